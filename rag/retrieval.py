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
data dir (NAME.npz: numpy arrays, 100k chunks load in well under a second) so a new process (a `rag ask`, a
server restart) loads it instead of rebuilding it. It indexes chunk ids only: both sides rank ids, and the
store supplies the k chunks of the fused ranking (one lookup by id per question), so no process holds a
copy of the collection's texts. The rebuild (or load) runs in a background thread: a question waits for it
at most `wait` seconds after it started (`rag serve`: RAG_BM25_WAIT; one-shot commands wait for it), then is
answered with the previous version's BM25 side, or with dense retrieval only when there is none (a new
replica without a warm cache): new chunks still come in through the dense side.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import Future, TimeoutError as Pending
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .text import bm25_tokens, index_text, source_words
from .types import Chunk, Hit

log = logging.getLogger(__name__)
MODES = ("hybrid", "dense", "bm25")
CACHE_FORMAT = 5   # bump when BM25Side or the tokenisation changes
DENSE_ONLY = ("This server is still preparing its keyword index of the collection, so this answer comes from "
              "meaning-based search alone.")


@dataclass
class BM25Side:
    """A BM25 index of the collection's chunk ids: bm25s' precomputed score matrix (CSC: one column of
    (chunk row, score) pairs per token) and its vocabulary, as plain numpy arrays, which load from the cache
    file in a fraction of a second. The chunks themselves stay in the store."""
    version: int
    ids: list[str]                 # chunk id of each row
    vocab: dict[str, int]          # token -> column
    data: np.ndarray               # the scores of the columns, one after the other
    indices: np.ndarray            # the row of each score
    indptr: np.ndarray             # column t is data[indptr[t]:indptr[t + 1]]

    @classmethod
    def empty(cls, version: int) -> "BM25Side":
        return cls(version, [], {}, np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(1, np.int64))

    @classmethod
    def build(cls, chunks: list[Chunk], version: int, settings=None) -> "BM25Side":
        if not chunks:
            return cls.empty(version)
        import bm25s

        k1, b = (settings.bm25_k1, settings.bm25_b) if settings is not None else (1.5, 0.75)
        model = bm25s.BM25(k1=k1, b=b)
        model.index(bm25_tokens([f"{source_words(c.source)}\n{index_text(c, settings)}" for c in chunks]),
                    show_progress=False)
        s = model.scores
        columns = len(s["indptr"]) - 1      # bm25s' vocabulary may also hold "" (a chunk with no tokens), columnless
        vocab = {t: i for t, i in model.vocab_dict.items() if i < columns}
        return cls(version, [c.id for c in chunks], vocab, s["data"], s["indices"], s["indptr"])

    def __len__(self) -> int:
        return len(self.ids)

    def dense_only(self, version: int) -> bool:
        """Is a question on `version` answered without BM25 by this side (not that version's, and empty)?"""
        return self.version != version and not self.ids

    def idf(self, tokens) -> dict[str, float]:
        """BM25 idf of each token over the collection's chunks; a token in no chunk gets the highest."""
        n, out = len(self.ids), {}
        for t in tokens:
            i = self.vocab.get(t)
            df = int(self.indptr[i + 1] - self.indptr[i]) if i is not None else 0
            out[t] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def scores(self, tokens: list[str]) -> np.ndarray:
        """The BM25 score of every row for these tokens (as bm25s' get_scores; tokens not indexed add nothing)."""
        scores = np.zeros(len(self.ids), np.float32)
        for t in tokens:
            i = self.vocab.get(t)
            if i is not None:        # a column lists each row once: no repeated index in one addition
                lo, hi = self.indptr[i], self.indptr[i + 1]
                scores[self.indices[lo:hi]] += self.data[lo:hi]
        return scores

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, score) of the k best rows scoring above 0."""
        tokens = [t for t in bm25_tokens([query])[0] if t in self.vocab] if self.ids else []
        if not tokens:
            return []
        scores = self.scores(tokens)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, path: Path, key: list) -> None:
        """Write the side with its cache key to `path` atomically (an uncompressed .npz: arrays, no pickles)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_native_id()}.tmp")
        tokens = sorted(self.vocab, key=self.vocab.__getitem__)
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(json.dumps(key)), version=np.array(self.version), ids=np.array(self.ids, str),
                     tokens=np.array(tokens, str), data=self.data, indices=self.indices, indptr=self.indptr)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, key: list) -> "BM25Side | None":
        """The side saved at `path` when it was saved with this key; else None."""
        with np.load(path, allow_pickle=False) as f:
            if json.loads(f["key"].item()) != key:
                return None
            tokens = f["tokens"].tolist()
            return cls(int(f["version"]), f["ids"].tolist(), dict(zip(tokens, range(len(tokens)))),
                       f["data"], f["indices"], f["indptr"])


def rrf(rankings: list[list[tuple[str, float]]], weights: list[float], k: int) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion of (chunk id, score) rankings: sum of w / (k + rank) over the rankings
    a chunk appears in."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (i, _) in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda x: -x[1])


def blend(rankings: list[list[tuple[str, float]]], weights: list[float]) -> list[tuple[str, float]]:
    """Weighted sum of min-max normalised scores of (chunk id, score) rankings; a chunk missing from a ranking
    gets 0 there (it scored at most that ranking's minimum)."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights):
        if not ranking:
            continue
        vals = [s for _, s in ranking]
        lo, hi = min(vals), max(vals)
        span = hi - lo
        for i, s in ranking:
            scores[i] = scores.get(i, 0.0) + w * ((s - lo) / span if span > 0 else 1.0)
    return sorted(scores.items(), key=lambda x: -x[1])


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


def fuse(dense: list[tuple[str, float]], lexical: list[tuple[str, float]], settings) -> list[tuple[str, float]]:
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
            return side or BM25Side.empty(-1)

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
            return BM25Side.empty(version)
        s = self.settings
        key = [CACHE_FORMAT, self.store.uid(collection), version, s.bm25_k1, s.bm25_b, s.index_title]
        path = (s.bm25_cache or s.data_dir / "bm25") / f"{collection}.npz"
        try:
            side = BM25Side.load(path, key)
            if side is not None:
                log.info("BM25 index of %s loaded from %s", collection, path)
                metrics.index_loaded("cache")
                return side
        except FileNotFoundError:
            pass
        except Exception as e:  # a damaged cache is only a cache
            log.warning("ignoring BM25 cache %s (%s)", path, e)
        chunks = self.store.all_chunks(collection)
        side = BM25Side.build(chunks, version, s)
        del chunks              # the texts are in the store: only the index stays in memory
        log.info("BM25 index of %s rebuilt: %d chunks (version %d)", collection, len(side), version)
        metrics.index_loaded("build")
        try:
            side.save(path, key)
            path.with_suffix(".pickle").unlink(missing_ok=True)   # the cache of versions before the arrays
        except OSError as e:
            log.warning("cannot write BM25 cache %s (%s)", path, e)
        return side

    def search(self, query: str, collection: str, k: int = 10, mode: str = "hybrid",
               vector: np.ndarray | None = None, version: int | None = None,
               side: BM25Side | None = None) -> list[Hit]:
        """The k best chunks. `side`: the BM25 side to use (default: self.bm25(collection, version)), for a
        caller that needs to know which one answered (BM25Side.dense_only) or its idf."""
        s = self.settings
        n = max(k, s.candidates)
        dense, lexical = [], []
        version = self.store.version(collection) if version is None else version
        side = self.bm25(collection, version) if side is None else side
        if side.version != version:
            log.info("BM25 index of %s version %d not ready: %s", collection, version,
                     f"searching with version {side.version}'s" if len(side) else "dense retrieval only")
        size = len(side) if side.version == version else self.store.count(collection)
        if mode in ("hybrid", "dense") and size:
            if vector is None:
                vector = self.embedder.embed([query])[0]
            dense = self._dense(collection, vector, min(n, size))
        if mode in ("hybrid", "bm25"):
            lexical = side.search(query, n)
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        else:
            fused = fuse(dense, lexical, s)
        return [Hit(chunk=c, score=score, rank=r) for r, (c, score) in enumerate(self._chunks(collection, fused, k), 1)]

    def _dense(self, collection: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, score): Chroma returns ids and distances only, the fastest query."""
        found = self.store.dense_ids(collection, vector, k)
        if self.settings.sentence_vectors:
            found = add_sentences(found, self.store.dense_sentence_ids(collection, vector, k))
        return found

    def _chunks(self, collection: str, ranked: list[tuple[str, float]], k: int) -> list[tuple[Chunk, float]]:
        """The first k chunks of a ranking of ids, from the store; ids it no longer has (a BM25 side of an older
        version, after a deletion) are skipped and the next ones fetched."""
        out: list[tuple[Chunk, float]] = []
        while ranked and len(out) < k:
            batch, ranked = ranked[:k - len(out)], ranked[k - len(out):]
            got = {c.id: c for c in self.store.chunks(collection, [i for i, _ in batch])}
            out += [(got[i], score) for i, score in batch if i in got]
        return out
