"""Scale run: the SciFact collection grown to 100k chunks without re-embedding.

    python -m evals.benchmarks.scale [--stages 10000,50000,100000] [--queries 100]

Copy r of every abstract is the abstract with ~10% of its words replaced by random corpus words (so BM25
sees new term statistics), chunked with the shipped chunker; each chunk gets its original chunk's cached
vector plus Gaussian noise (cosine ~0.96 to the original), and so does each sentence row (written as ingest
writes them: every sentence of every chunk; `--no-sentences` for chunks only). Documents are added through
the store's normal `put_documents` until each stage's chunk count is reached; then the BM25 side is rebuilt from Chroma the
way a new process would, and hybrid queries (query embedding included) are timed.
Reported per stage: indexing time (Chroma writes, BM25 load + build), query p50/p95 with the shipped settings
(RAG_SENTENCE_VECTORS and the rest from the environment), disk size, RSS.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import time
from pathlib import Path

import numpy as np

from rag.chunking import chunk_document
from rag.embedder import make_embedder
from rag.ingest import sentence_rows
from rag.retrieval import Retriever, index_text
from rag.settings import load_settings
from rag.store import ChromaStore

from .common import (OUT, cached_embedder, dir_mb, load_corpus, load_qrels, load_queries, percentiles,
                     quiet_logging, rss_mb, scifact_dir, to_document, write_json)

COLLECTION = "scale"
GEN = "g0000000000"   # the store's write generation ("g" + 10 hex digits): every chunk id carries it


def perturb(text: str, vocab: list[str], rng: random.Random, rate: float = 0.1) -> str:
    return " ".join(rng.choice(vocab) if rng.random() < rate else w for w in text.split(" "))


def cached_vectors(emb, texts: list[str], what: str) -> np.ndarray:
    missing = sum(emb.key(t) not in emb.cache for t in texts)
    if missing:
        raise SystemExit(f"{missing} {what} vectors are not cached: run `python -m evals.benchmarks.scifact` first")
    return emb.embed(texts)


def split(vecs: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    return np.split(vecs, np.cumsum(sizes)[:-1]) if sizes else []


def copies(records, settings, emb, rng: random.Random, noise: float = 0.3):
    """Endless stream of (document, chunks, chunk vectors, sentence rows, sentence vectors): the originals
    first, then perturbed copies whose vectors are the original's (chunk j's, sentence i's) plus noise."""
    base = [to_document(r) for r in records]
    chunked = [(d, chunk_document(d, settings.chunk_tokens, settings.chunk_overlap, gen=GEN)) for d in base]
    vecs = split(cached_vectors(emb, [index_text(c, settings) for _, cs in chunked for c in cs], "chunk"),
                 [len(cs) for _, cs in chunked])
    rows = [sentence_rows(cs) for _, cs in chunked]
    svecs = split(cached_vectors(emb, [t for rs in rows for _, _, t in rs], "sentence"), [len(rs) for rs in rows])
    vocab = sorted({w for r in records[:500] for w in r["text"].split() if w.isalpha()})
    nrng = np.random.default_rng(rng.randrange(2**32))

    def noisy(v: np.ndarray, n: int) -> np.ndarray:
        x = v[[min(j, len(v) - 1) for j in range(n)]] if len(v) else np.zeros((n, emb.dim), np.float32)
        x = x + noise * nrng.standard_normal(x.shape).astype(np.float32) / np.sqrt(emb.dim)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    r = 0
    while True:
        for (doc, cs), v, sr, sv in zip(chunked, vecs, rows, svecs):
            if r == 0:
                yield doc, cs, v, sr, sv
                continue
            text = perturb(doc.text, vocab, rng)
            d = dataclasses.replace(doc, id=f"{doc.id}-r{r}", source=f"{doc.source}-r{r}", text=text,
                                    sha256=f"{doc.sha256[:56]}{r:08d}")
            new = chunk_document(d, settings.chunk_tokens, settings.chunk_overlap, gen=GEN)
            new_rows = sentence_rows(new)
            yield d, new, noisy(v, len(new)), new_rows, noisy(sv, len(new_rows))
        r += 1


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="scale run to 100k chunks")
    ap.add_argument("--stages", default="10000,50000,100000")
    ap.add_argument("--queries", type=int, default=100, help="test queries timed at each stage")
    ap.add_argument("--data-dir", type=Path, default=OUT / "scale-data")
    ap.add_argument("--cache", type=Path, default=OUT / "vectors.npz")
    ap.add_argument("--out", type=Path, default=OUT / "scale.json")
    ap.add_argument("--keep", action="store_true", help="keep the scale index afterwards")
    ap.add_argument("--no-sentences", dest="sentences", action="store_false",
                    help="write chunks only (ingest always writes every sentence's vector too)")
    a = ap.parse_args(argv)
    quiet_logging()
    root = scifact_dir()
    shutil.rmtree(a.data_dir, ignore_errors=True)
    settings = load_settings(data_dir=a.data_dir)
    emb = cached_embedder(settings, a.cache)
    stream = copies(load_corpus(root), settings, emb, random.Random(0))
    del emb
    queries = load_queries(root)
    qs = [queries[q] for q in list(load_qrels(root / "qrels" / "test.tsv"))[:a.queries]]
    embedder = make_embedder(settings)
    store = ChromaStore(settings)
    stages, total, n_sents, write_s, results = [int(x) for x in a.stages.split(",")], 0, 0, 0.0, []
    rss0 = rss_mb()
    for target in stages:
        t_write = 0.0
        while total < target:
            batch, n = [], 0
            while n < 512 and total + n < target:   # as ingest's Batcher: ~512 chunks, their sentences
                batch.append(next(stream))
                n += len(batch[-1][1])
            sents = [(i, d) for b in batch for i, d, _ in b[3]] if a.sentences else []
            t = time.perf_counter()
            store.put_documents(COLLECTION, [(b[0], b[1]) for b in batch], np.concatenate([b[2] for b in batch]),
                                {"signature": "scale", "gen": GEN}, sents,
                                np.concatenate([b[4] for b in batch]) if sents else None)
            t_write += time.perf_counter() - t
            total += n
            n_sents += len(sents)
        write_s += t_write
        # a new process: a fresh store handle and retriever, BM25 rebuilt from Chroma
        store = ChromaStore(settings)
        retriever = Retriever(store, embedder, settings)
        t = time.perf_counter()
        chunks = store.all_chunks(COLLECTION)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        retriever.bm25(COLLECTION)
        t_bm25 = time.perf_counter() - t   # includes loading the chunks from Chroma again
        del chunks
        retriever.search(qs[0], COLLECTION, k=10)   # warm
        ms = []
        for q in qs:
            t = time.perf_counter()
            retriever.search(q, COLLECTION, k=10)
            ms.append((time.perf_counter() - t) * 1000)
        lat = percentiles(ms)
        bm_ms = []
        side = retriever.bm25(COLLECTION)
        for q in qs:
            t = time.perf_counter()
            side.search(q, settings.candidates)
            bm_ms.append((time.perf_counter() - t) * 1000)
        qv = embedder.embed(qs)
        de_ms = []
        for v in qv:
            t = time.perf_counter()
            store.dense_ids(COLLECTION, v, settings.candidates)
            de_ms.append((time.perf_counter() - t) * 1000)
        se_ms = []
        for v in qv if n_sents else []:
            t = time.perf_counter()
            store.dense_sentence_ids(COLLECTION, v, settings.candidates)
            se_ms.append((time.perf_counter() - t) * 1000)
        row = {"chunks": store.count(COLLECTION), "sentences": n_sents, "store_write_s_stage": round(t_write, 1),
               "store_write_s_total": round(write_s, 1), "bm25_load_from_chroma_s": round(t_load, 1),
               "bm25_rebuild_s": round(t_bm25, 1), "hybrid_ms": lat,
               "bm25_side_ms": percentiles(bm_ms), "chroma_dense_ms": percentiles(de_ms),
               "chroma_sentences_ms": percentiles(se_ms) if se_ms else None,
               "disk_mb": round(dir_mb(a.data_dir), 1), "rss_mb": round(rss_mb(), 1),
               "rss_growth_mb": round(rss_mb() - rss0, 1)}
        results.append(row)
        print(row, flush=True)
    write_json(a.out, {"stages": results, "queries": len(qs), "settings": {
        k: getattr(settings, k) for k in ("candidates", "fusion", "dense_weight", "chunk_tokens", "sentence_vectors")}})
    if not a.keep:
        shutil.rmtree(a.data_dir, ignore_errors=True)
    return {"stages": results}


if __name__ == "__main__":
    main()
