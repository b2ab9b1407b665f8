"""BEIR SciFact retrieval benchmark: our dense, BM25 and hybrid (default) rows beside published numbers.

    python -m evals.benchmarks.scifact [--split test|train|both] [--out evals/benchmarks/out/scifact]

Ingests corpus.jsonl (title + abstract) into a fresh collection with the shipped settings, runs every
query of the split through `Rag.retriever.search` in each mode and scores by document (a document ranks
where its best chunk ranks): nDCG@10, Recall@10 and MRR@10 from the k=10 call the product makes,
Recall@100 from a deeper call. Chunk vectors are cached under evals/benchmarks/out/ by (model, text).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rag.api import Rag
from rag.settings import load_settings

from .common import (OUT, cached_embedder, doc_ranking, load_corpus, load_qrels, load_queries, quiet_logging,
                     scifact_dir, score_run, to_document, write_json)

COLLECTION = "scifact"
DEEP_K = 300   # chunks fetched for Recall@100 (about 1.7 chunks per abstract)
MODES = ("dense", "bm25", "hybrid")
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# test split, 300 queries; see ../shared/datasets/scifact/BASELINES.md for sources
PUBLISHED = [
    ("BM25 (BEIR paper)", {"ndcg@10": 0.665}),
    ("BM25 + cross-encoder rerank (BEIR paper)", {"ndcg@10": 0.688}),
    ("ColBERT (BEIR paper)", {"ndcg@10": 0.671}),
    ("docT5query (BEIR paper)", {"ndcg@10": 0.675}),
    ("all-MiniLM-L6-v2 dense (MTEB)", {"ndcg@10": 0.6451, "recall@10": 0.783, "recall@100": 0.925}),
    ("Pyserini BM25 multifield", {"ndcg@10": 0.6647, "recall@100": 0.9076}),
    ("local ref: int8 MiniLM, 1 vector/abstract", {"ndcg@10": 0.647, "recall@10": 0.788, "recall@100": 0.922}),
    ("local ref: bm25s stem+stop", {"ndcg@10": 0.686, "recall@10": 0.819, "recall@100": 0.913}),
    ("local ref: RRF k=10 of the two", {"ndcg@10": 0.720, "recall@10": 0.853, "recall@100": 0.948}),
    ("local ref: min-max blend, weight picked on test", {"ndcg@10": 0.73}),
]
RETRIEVAL_KEYS = ("chunk_tokens", "chunk_overlap", "index_title", "sentence_vectors", "candidates", "fusion",
                  "dense_weight", "rrf_k", "bm25_k1", "bm25_b")


def build(rag: Rag, root: Path, limit: int | None = None, collection: str = COLLECTION) -> dict:
    """A fresh collection holding the corpus (or its first `limit` records)."""
    records = load_corpus(root)[:limit]
    rag.store.drop(collection)
    t = time.perf_counter()
    report = rag.ingest_documents([to_document(r) for r in records], collection=collection)
    return {"documents": len(records), "chunks": report.chunks, "seconds": round(time.perf_counter() - t, 1)}


def evaluate(rag: Rag, queries: dict[str, str], qrels: dict, collection: str = COLLECTION,
             modes=MODES) -> dict[str, dict]:
    """mode -> metrics over the queries of qrels."""
    qids = [q for q in qrels if q in queries]
    vectors = dict(zip(qids, rag.embedder.embed([queries[q] for q in qids])))
    out = {}
    for mode in modes:
        top, deep = {}, {}
        for q in qids:
            hits = rag.retriever.search(queries[q], collection, k=10, mode=mode, vector=vectors[q])
            top[q] = doc_ranking(hits, 10)
            hits = rag.retriever.search(queries[q], collection, k=DEEP_K, mode=mode, vector=vectors[q])
            deep[q] = doc_ranking(hits, 100)
        m10, m100 = score_run(top, qrels), score_run(deep, qrels)
        out[mode] = {"ndcg@10": m10["ndcg@10"], "recall@10": m10["recall@10"], "recall@100": m100["recall@100"],
                     "mrr@10": m10["mrr@10"], "queries": len(qids)}
    return out


def abstract_vectors(emb, root: Path, limit: int | None = None) -> tuple[list[str], "np.ndarray"]:
    """(ids, vectors) with one vector per abstract (title + text, cut at the model's 256 word pieces)."""
    records = load_corpus(root)[:limit]
    vecs = emb.embed([f"{(r.get('title') or '').strip()}\n{r.get('text') or ''}" for r in records])
    return [str(r["_id"]) for r in records], vecs


def one_vector_per_abstract(emb, abstracts: tuple[list[str], "np.ndarray"], queries: dict[str, str], qrels: dict) -> dict:
    """The embedder check, not a product mode: exact cosine over one vector per abstract, the setup of the
    published all-MiniLM-L6-v2 number (MTEB)."""
    ids, vecs = abstracts
    qids = [q for q in qrels if q in queries]
    qvecs = emb.embed([queries[q] for q in qids])
    runs = {q: [ids[i] for i in np.argsort(-(vecs @ v), kind="stable")[:100]] for q, v in zip(qids, qvecs)}
    return {**score_run(runs, qrels), "queries": len(qids)}


def markdown(results: dict, settings: dict, corpus: dict) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else "–"   # noqa: E731
    lines = ["| system | split | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |", "|---|---|---|---|---|---|"]
    for split, rows in results.items():
        for mode, m in rows.items():
            name = {"hybrid": "**ours: hybrid (default)**", "dense": "ours: dense", "bm25": "ours: BM25",
                    "dense-abstract": "embedder check: dense, 1 vector per abstract (MTEB setup)"}[mode]
            lines.append(f"| {name} | {split} ({m['queries']} q) | " + " | ".join(fmt(m[k]) for k in METRICS) + " |")
    for name, m in PUBLISHED:
        lines.append(f"| {name} | test | " + " | ".join(fmt(m.get(k)) for k in METRICS) + " |")
    lines += ["", f"Corpus: {corpus['documents']} abstracts -> {corpus['chunks']} chunks. Settings: "
              + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".",
              "Command: `python -m evals.benchmarks.scifact --split both`. Scored by document (best chunk)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="BEIR SciFact retrieval benchmark")
    ap.add_argument("--split", default="both", choices=["test", "train", "both"])
    ap.add_argument("--dataset", type=Path, default=None, help="BEIR folder (default ../shared/datasets/scifact "
                                                                  "or RAG_SCIFACT_DIR)")
    ap.add_argument("--out", type=Path, default=OUT / "scifact", help="where results.json and results.md go")
    ap.add_argument("--data-dir", type=Path, default=OUT / "data", help="the benchmark's own index")
    ap.add_argument("--cache", type=Path, default=OUT / "vectors.npz", help="vector cache (model, text hash)")
    ap.add_argument("--docs", type=int, default=None, help="only the first N corpus records (smoke runs)")
    ap.add_argument("--queries", type=int, default=None, help="only the first N queries of each split")
    a = ap.parse_args(argv)
    quiet_logging()
    root = a.dataset or scifact_dir()
    settings = load_settings(data_dir=a.data_dir)
    emb = cached_embedder(settings, a.cache)
    rag = Rag(settings, embedder=emb)
    corpus = build(rag, root, a.docs)
    emb.save()
    print(f"ingested {corpus['documents']} documents, {corpus['chunks']} chunks in {corpus['seconds']} s", flush=True)
    queries = load_queries(root)
    results = {}
    abstracts = abstract_vectors(emb, root, a.docs)
    for split in (("train", "test") if a.split == "both" else (a.split,)):
        qrels = load_qrels(root / "qrels" / f"{split}.tsv")
        if a.queries:
            qrels = dict(list(qrels.items())[:a.queries])
        results[split] = evaluate(rag, queries, qrels)
        results[split]["dense-abstract"] = one_vector_per_abstract(emb, abstracts, queries, qrels)
    emb.save()
    chosen = {k: getattr(settings, k) for k in RETRIEVAL_KEYS}
    md = markdown(results, chosen, corpus)
    print(md)
    payload = {"results": results, "published": dict(PUBLISHED), "settings": chosen, "corpus": corpus}
    write_json(a.out / "results.json", payload)
    (a.out / "results.md").write_text(md, encoding="utf-8")
    return payload


if __name__ == "__main__":
    main()
