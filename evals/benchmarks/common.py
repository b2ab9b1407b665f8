"""Shared pieces of the benchmarks: dataset paths, BEIR loaders, a vector cache, metrics, timing."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import resource
import statistics
import threading
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "evals" / "benchmarks" / "out"


def quiet_logging(level: int = logging.WARNING) -> None:
    """What a benchmark prints: warnings and errors only. The level goes on the handler too, because some
    dependencies set their own loggers to DEBUG when imported (bm25s does), which a root level cannot stop."""
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_dir() -> Path:
    """../shared beside the clone, or RAG_SHARED_DIR."""
    return Path(os.environ.get("RAG_SHARED_DIR") or REPO.parent / "shared")


def scifact_dir() -> Path:
    return Path(os.environ.get("RAG_SCIFACT_DIR") or shared_dir() / "datasets" / "scifact")


# ---------------------------------------------------------------- data

def load_corpus(root: Path) -> list[dict]:
    with open(root / "corpus.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_queries(root: Path) -> dict[str, str]:
    with open(root / "queries.jsonl", encoding="utf-8") as f:
        return {str(q["_id"]): q["text"] for q in map(json.loads, f) if q}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            parts = line.strip().split("\t")
            if len(parts) == 3 and int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def to_document(rec: dict):
    """A BEIR record as a rag Document: the stored text is the abstract; the title is the title."""
    from rag.types import Document

    text = rec.get("text") or ""
    return Document(id=str(rec["_id"]), source=f"scifact/{rec['_id']}", title=(rec.get("title") or "").strip(),
                    text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


# ---------------------------------------------------------------- vector cache

class CachedEmbedder:
    """Wraps an embedder; vectors are cached on disk keyed by (model, sha1 of the text)."""

    def __init__(self, make, name: str, dim: int, path: Path):
        self._make, self._inner = make, None
        self.name, self.dim, self.path = name, dim, Path(path)
        self._lock = threading.Lock()
        self.cache: dict[str, np.ndarray] = {}
        self.hits = self.misses = 0
        if self.path.exists():
            data = np.load(self.path)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"]))
        self._dirty = False

    @property
    def inner(self):
        if self._inner is None:
            self._inner = self._make()
        return self._inner

    def key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\0{text}".encode("utf-8")).hexdigest()

    def embed(self, texts: list[str], **kw) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self.cache}.items())
        if missing:
            vecs = self.inner.embed([t for _, t in missing], **kw)
            with self._lock:
                self.cache.update(zip([k for k, _ in missing], vecs))
                self._dirty = True
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, k in enumerate(keys):
            out[i] = self.cache[k]
        return out

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.cache), dtype="U40")
        vecs = np.stack(list(self.cache.values())).astype(np.float32) if self.cache else np.zeros((0, self.dim), np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)
        self._dirty = False


def cached_embedder(settings, path: Path | None = None) -> CachedEmbedder:
    from rag.embedder import MODEL_ID, make_embedder

    return CachedEmbedder(lambda: make_embedder(settings), MODEL_ID, 384, path or OUT / "vectors.npz")


# ---------------------------------------------------------------- metrics

def doc_ranking(hits, limit: int = 100) -> list[str]:
    """Chunk hits -> document ids in order; a document ranks where its best chunk ranks."""
    seen, out = set(), []
    for h in hits:
        d = h.chunk.doc_id if hasattr(h, "chunk") else h
        if d not in seen:
            seen.add(d)
            out.append(d)
            if len(out) >= limit:
                break
    return out


def ndcg_at(ranked: list[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum((2 ** r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rel: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel) if rel else 0.0


def mrr_at(ranked: list[str], rel: dict[str, int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if d in rel), 0.0)


def score_run(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, Recall@100, MRR@10 over the queries of qrels (missing runs score 0)."""
    per = {"ndcg@10": [], "recall@10": [], "recall@100": [], "mrr@10": []}
    for qid, rel in qrels.items():
        ranked = run.get(qid, [])
        per["ndcg@10"].append(ndcg_at(ranked, rel, 10))
        per["recall@10"].append(recall_at(ranked, rel, 10))
        per["recall@100"].append(recall_at(ranked, rel, 100))
        per["mrr@10"].append(mrr_at(ranked, rel, 10))
    return {k: round(float(np.mean(v)), 4) if v else 0.0 for k, v in per.items()}


# ---------------------------------------------------------------- timing and memory

def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "mean": round(float(a.mean()), 2), "n": int(a.size)}


def median(xs):
    return statistics.median(xs)


def rss_mb() -> float:
    """Current resident set size (MB), from /proc; falls back to the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
