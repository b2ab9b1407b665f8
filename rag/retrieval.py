"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s) over the same chunks, fused.

Each chunk is indexed as "title + text" (settings.index_title) while its stored span stays exact.
Fusion is a weighted blend of min-max normalised scores (default) or weighted reciprocal rank fusion
(settings.fusion). The defaults are tuned on the BEIR SciFact train split (evals/benchmarks/tune.py);
pseudo-relevance feedback (dense Rocchio, RM3) was tried there and did not help, so it is not shipped.
With settings.sentence_vectors (the default) the dense side also asks for the nearest sentences, which
ingest stores for the answer step anyway, and a chunk scores its cosine plus its best sentence's
(`add_sentences`): SciFact test nDCG@10 0.732 instead of 0.715, every choice made on train
(`python -m evals.benchmarks.tune --sentences`; evals/benchmarks/RESULTS.md). Turned off, NAME.sentences is
still written at ingest but never queried.

The BM25 side is rebuilt from the Chroma collection whenever the collection's version changes, so it
always matches what is indexed after incremental ingests and deletions; it is cached on disk under the
data dir so a new process (a `rag ask`, a server restart) loads it instead of rebuilding it. The rebuild
(or load) runs in a background thread: a question waits for it at most `wait` seconds after it started
(`rag serve`: RAG_BM25_WAIT; one-shot commands wait for it), then is answered with the previous version's
BM25 side, or with dense retrieval only when there is none (a new replica without a warm cache): new
chunks still come in through the dense side, whose chunks the store supplies.
"""
from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from concurrent.futures import Future, TimeoutError as Pending
from dataclasses import dataclass

import numpy as np

from . import metrics
from .text import bm25_tokens, index_text
from .types import Chunk, Hit

log = logging.getLogger(__name__)
MODES = ("hybrid", "dense", "bm25")
CACHE_FORMAT = 3   # bump when BM25Side or the tokenisation changes
DENSE_ONLY = ("This server is still preparing its keyword index of the collection, so this answer comes from "
              "meaning-based search alone.")


@dataclass
class BM25Side:
    """The BM25 index and the in-memory copy of the collection's chunks it was built from."""
    version: int
    chunks: list[Chunk]
    model: object

    def __post_init__(self):
        self.by_id = {c.id: c for c in self.chunks}

    @classmethod
    def build(cls, chunks: list[Chunk], version: int, settings=None) -> "BM25Side":
        import bm25s

        k1, b = (settings.bm25_k1, settings.bm25_b) if settings is not None else (1.5, 0.75)
        model = bm25s.BM25(k1=k1, b=b)
        if chunks:
            model.index(bm25_tokens([index_text(c, settings) for c in chunks]), show_progress=False)
        return cls(version, chunks, model)

    def idf(self, tokens) -> dict[str, float]:
        """BM25 idf of each token over the collection's chunks; a token in no chunk gets the highest."""
        n, vocab = len(self.chunks), getattr(self.model, "vocab_dict", {}) or {}
        ptr = self.model.scores["indptr"] if n else [0]
        out = {}
        for t in tokens:
            i = vocab.get(t)
            df = int(ptr[i + 1] - ptr[i]) if i is not None and i + 1 < len(ptr) else 0
            out[t] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        if not self.chunks:
            return []
        vocab = self.model.vocab_dict
        tokens = [t for t in bm25_tokens([query])[0] if t in vocab]
        if not tokens:
            return []
        scores = self.model.get_scores(tokens)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]


def rrf(rankings: list[list[tuple[Chunk, float]]], weights: list[float], k: int) -> list[tuple[Chunk, float]]:
    """Weighted reciprocal rank fusion: sum of w / (k + rank) over the rankings a chunk appears in."""
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (chunk, _) in enumerate(ranking, start=1):
            scores[chunk.id] = scores.get(chunk.id, 0.0) + w / (k + rank)
            chunks[chunk.id] = chunk
    return sorted(((chunks[i], s) for i, s in scores.items()), key=lambda cs: -cs[1])


def blend(rankings: list[list[tuple[Chunk, float]]], weights: list[float]) -> list[tuple[Chunk, float]]:
    """Weighted sum of min-max normalised scores; a chunk missing from a ranking gets 0 there
    (it scored at most that ranking's minimum)."""
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, w in zip(rankings, weights):
        if not ranking:
            continue
        vals = [s for _, s in ranking]
        lo, hi = min(vals), max(vals)
        span = hi - lo
        for chunk, s in ranking:
            scores[chunk.id] = scores.get(chunk.id, 0.0) + w * ((s - lo) / span if span > 0 else 1.0)
            chunks[chunk.id] = chunk
    return sorted(((chunks[i], s) for i, s in scores.items()), key=lambda cs: -cs[1])


def add_sentences(chunks: list[tuple[str, float]], sentences: list[tuple[str, float]],
                  weight: float = 1.0) -> list[tuple[str, float]]:
    """Dense score of a chunk = its cosine + weight * its best sentence's cosine. A chunk missing from one
    list gets that list's lowest score (it scored at most that there)."""
    if not sentences or not chunks:
        return chunks or sentences
    c, s = dict(chunks), dict(sentences)
    c_floor, s_floor = min(c.values()), min(s.values())
    ids = dict.fromkeys([*c, *s])
    return sorted(((i, c.get(i, c_floor) + weight * s.get(i, s_floor)) for i in ids), key=lambda x: -x[1])


def fuse(dense: list[tuple[Chunk, float]], lexical: list[tuple[Chunk, float]], settings) -> list[tuple[Chunk, float]]:
    weights = [settings.dense_weight, 1.0 - settings.dense_weight]
    if settings.fusion == "rrf":
        return rrf([dense, lexical], weights, settings.rrf_k)
    return blend([dense, lexical], weights)


class Retriever:
    """`wait`: seconds a question waits for a BM25 side being built or loaded after the collection changed,
    counted from when that started (None: until it is ready)."""

    def __init__(self, store, embedder, settings, wait: float | None = None):
        self.store, self.embedder, self.settings, self.wait = store, embedder, settings, wait
        self._bm25: dict[str, BM25Side] = {}
        self._jobs: dict[str, tuple[int, object, float]] = {}   # collection -> (version, future, deadline)
        self._lock, self._one_build = threading.Lock(), threading.Lock()   # one build at a time: bounded memory

    def bm25(self, collection: str, version: int | None = None) -> BM25Side:
        """The BM25 side of `version`; while it is built in the background (past the wait), the previous
        version's side, or an empty side of version -1 (dense only)."""
        version = self.store.version(collection) if version is None else version
        side = self._bm25.get(collection)
        if side is not None and side.version == version:
            return side
        with self._lock:
            side = self._bm25.get(collection)
            if side is not None and side.version == version:
                return side
            job = self._jobs.get(collection)
            if job is None or job[0] != version:
                deadline = time.monotonic() + (self.wait if self.wait is not None else float("inf"))
                job = self._jobs[collection] = (version, Future(), deadline)
                threading.Thread(target=self._install, args=(collection, version, job[1]), daemon=True,
                                 name=f"bm25-{collection}").start()   # daemon: never holds up a shutdown
        try:
            left = job[2] - time.monotonic()
            return job[1].result(timeout=None if left == float("inf") else max(left, 0))
        except Pending:
            return side or BM25Side.build([], -1, self.settings)

    def dense_only(self, collection: str, version: int) -> bool:
        """Is a question on `version` answered without BM25 now (its side is not ready and there is no older one)?"""
        side = self.bm25(collection, version)
        return side.version != version and not side.chunks

    def _install(self, collection: str, version: int, done: Future) -> None:
        """The background job: load or build the side of `version`, put it in use, and resolve `done`. It runs
        at a lower CPU priority (Linux niceness is per thread), so start-up and questions come first."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        try:
            t0 = time.perf_counter()
            with self._one_build:
                side = self._load_or_build(collection, version)
            with self._lock:
                current = self._bm25.get(collection)
                if current is None or current.version < version:
                    self._bm25[collection] = side
            log.info("BM25 index of %s version %d ready after %.1f s", collection, version, time.perf_counter() - t0)
            done.set_result(side)
        except BaseException as e:       # the store went away, ...: raised to whoever waits; the next question retries
            log.warning("BM25 index of %s version %d not built: %s", collection, version, e)
            done.set_exception(e)
        finally:
            with self._lock:
                if collection in self._jobs and self._jobs[collection][1] is done:
                    del self._jobs[collection]

    def _load_or_build(self, collection: str, version: int) -> BM25Side:
        """The BM25 side from its disk cache under the data dir when that matches the collection (same
        Chroma collection id, version and BM25 settings); else rebuilt from Chroma and cached."""
        if version < 0:
            return BM25Side.build([], version, self.settings)
        s = self.settings
        key = (CACHE_FORMAT, self.store.uid(collection), version, s.bm25_k1, s.bm25_b, s.index_title)
        path = (s.bm25_cache or s.data_dir / "bm25") / f"{collection}.pickle"
        try:
            with open(path, "rb") as f:
                if pickle.load(f) == key:
                    side = BM25Side(*pickle.load(f))
                    log.info("BM25 index of %s loaded from %s", collection, path)
                    metrics.index_loaded("cache")
                    return side
        except FileNotFoundError:
            pass
        except Exception as e:  # a damaged or old cache is only a cache
            log.warning("ignoring BM25 cache %s (%s)", path, e)
        chunks = self.store.all_chunks(collection)
        side = BM25Side.build(chunks, version, s)
        log.info("BM25 index of %s rebuilt: %d chunks (version %d)", collection, len(chunks), version)
        metrics.index_loaded("build")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                pickle.dump(key, f, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump((side.version, side.chunks, side.model), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError as e:
            log.warning("cannot write BM25 cache %s (%s)", path, e)
        return side

    def search(self, query: str, collection: str, k: int = 10, mode: str = "hybrid",
               vector: np.ndarray | None = None, version: int | None = None) -> list[Hit]:
        s = self.settings
        n = max(k, s.candidates)
        dense, lexical = [], []
        version = self.store.version(collection) if version is None else version
        side = self.bm25(collection, version)
        if side.version != version:
            log.info("BM25 index of %s version %d not ready: %s", collection, version,
                     f"searching with version {side.version}'s" if side.chunks else "dense retrieval only")
        size = len(side.chunks) if side.version == version else self.store.count(collection)
        if mode in ("hybrid", "dense") and size:
            if vector is None:
                vector = self.embedder.embed([query])[0]
            dense = self._dense(collection, side, vector, min(n, size))
        if mode in ("hybrid", "bm25"):
            lexical = side.search(query, n)
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        else:
            fused = fuse(dense, lexical, s)
        return [Hit(chunk=c, score=score, rank=r) for r, (c, score) in enumerate(fused[:k], start=1)]

    def _dense(self, collection: str, side: BM25Side, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Chroma returns ids and distances only; the chunks come from the BM25 side's copy (the store
        is asked only for ids it does not have, after a concurrent ingest)."""
        found = self.store.dense_ids(collection, vector, k)
        if self.settings.sentence_vectors:
            found = add_sentences(found, self.store.dense_sentence_ids(collection, vector, k))
        missing = [i for i, _ in found if i not in side.by_id]
        extra = {c.id: c for c in self.store.chunks(collection, missing)} if missing else {}
        hits = [(side.by_id.get(i) or extra.get(i), score) for i, score in found]
        return [(c, score) for c, score in hits if c is not None]
