"""Speed, measured side by side in one run (medians of interleaved repeats; the CPU is shared and noisy).

    python -m evals.benchmarks.speed [--docs 120] [--repeats 3] [--sentences 400]

1. ingest throughput: our `Rag.ingest_documents` vs the raw embedder alone on everything we embed (chunks
   and their sentences), and vs a plain llama-index VectorStoreIndex (same embedder, same Chroma, 256-token
   SentenceSplitter), which embeds chunks only;
2. embedder: length-sorted vs naive batching (sentences/s), intra-op threads 1/2/4;
3. query latency, query embedding included, over the 300 test queries (p50/p95): hybrid, dense, BM25 and
   hybrid with RAG_SENTENCE_VECTORS flipped, interleaved query by query, on the SciFact collection that
   `python -m evals.benchmarks.scifact` built (built here if missing).
"""
from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from rag.api import Rag
from rag.chunking import chunk_document
from rag.text import sentence_spans
from rag.embedder import OnnxEmbedder
from rag.ingest import sentence_rows
from rag.retrieval import index_text
from rag.settings import load_settings

from .common import (OUT, cached_embedder, load_corpus, load_qrels, load_queries, median, percentiles,
                     quiet_logging, scifact_dir, to_document, write_json)
from .scifact import COLLECTION, build


def ingest_ratios(records, repeats: int, threads: int) -> dict:
    from llama_index.core import Document as LDocument, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.llama import LlamaIndexEmbedding

    base = load_settings()
    embedder = OnnxEmbedder(threads=threads, batch_size=base.embed_batch)
    docs = [to_document(r) for r in records]
    chunks = [c for d in docs for c in chunk_document(d, base.chunk_tokens, base.chunk_overlap)]
    texts = [index_text(c, base) for c in chunks] + [t for _, _, t in sentence_rows(chunks)]
    times = {"raw_embedder": [], "ours": [], "llama_index": []}
    embedder.embed(texts[:16])   # warm the session
    tmp = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    try:
        for r in range(repeats):
            order = list(times)
            random.Random(r).shuffle(order)          # interleaved, so drift in CPU load hits all alike
            for system in order:
                data = tmp / f"{system}-{r}"
                if system == "raw_embedder":
                    t = time.perf_counter()
                    embedder.embed(texts)
                    times[system].append(time.perf_counter() - t)
                elif system == "ours":
                    rag = Rag(load_settings(data_dir=data), embedder=embedder)
                    rag.store  # open the store before the clock starts, like llama-index's collection below
                    t = time.perf_counter()
                    rep = rag.ingest_documents(docs, collection="speed")
                    times[system].append(time.perf_counter() - t)
                    assert rep.chunks == len(chunks)
                else:
                    import chromadb
                    client = chromadb.PersistentClient(path=str(data / "chroma"))
                    col = client.get_or_create_collection("speed", configuration={"hnsw": {"space": "cosine"}},
                                                          embedding_function=None)
                    ctx = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=col))
                    ldocs = [LDocument(text=d.text, metadata={"title": d.title}, id_=d.id) for d in docs]
                    t = time.perf_counter()
                    VectorStoreIndex.from_documents(
                        ldocs, storage_context=ctx, embed_model=LlamaIndexEmbedding(embedder),
                        transformations=[SentenceSplitter(chunk_size=base.chunk_tokens, chunk_overlap=base.chunk_overlap)])
                    times[system].append(time.perf_counter() - t)
                print(f"  ingest repeat {r} {system}: {times[system][-1]:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: median(v) for k, v in times.items()}
    return {"documents": len(docs), "chunks": len(chunks), "texts_embedded": len(texts), "repeats": repeats,
            "seconds_median": {k: round(v, 2) for k, v in med.items()},
            "docs_per_s": {k: round(len(docs) / v, 2) for k, v in med.items()},
            "ours_vs_raw_embedder": round(med["raw_embedder"] / med["ours"], 3),
            "ours_vs_llama_index": round(med["llama_index"] / med["ours"], 3)}


def embedder_batching(records, n: int, repeats: int) -> dict:
    sentences = [r["text"][s:e] for r in records for s, e in sentence_spans(r["text"])]
    sentences = random.Random(0).sample(sentences, min(n, len(sentences)))
    configs = [("sorted", 2, True), ("naive", 2, False), ("sorted", 1, True), ("sorted", 4, True)]
    embedders = {t: OnnxEmbedder(threads=t) for t in sorted({c[1] for c in configs})}
    for e in embedders.values():
        e.embed(sentences[:16])   # warm
    rates = {f"{name}/threads={t}": [] for name, t, _ in configs}
    for r in range(repeats):
        order = list(configs)
        random.Random(100 + r).shuffle(order)
        for name, t, sort in order:
            start = time.perf_counter()
            embedders[t].embed(sentences, sort_by_length=sort)
            rates[f"{name}/threads={t}"].append(len(sentences) / (time.perf_counter() - start))
    med = {k: round(median(v), 1) for k, v in rates.items()}
    best = max((k for k in med if k.startswith("sorted")), key=med.get)
    return {"sentences": len(sentences), "repeats": repeats, "sentences_per_s_median": med,
            "sorted_vs_naive": round(med["sorted/threads=2"] / med["naive/threads=2"], 3), "best_threads": best}


def query_latency(root: Path, data_dir: Path, cache: Path, repeats: int) -> dict:
    settings = load_settings(data_dir=data_dir)
    rag = Rag(settings)
    if rag.store.version(COLLECTION) < 0:
        emb = cached_embedder(settings, cache)
        build(Rag(settings, embedder=emb), root)
        emb.save()
    queries = load_queries(root)
    qs = [queries[q] for q in load_qrels(root / "qrels" / "test.tsv")]
    rag.search(qs[0], k=10, collection=COLLECTION)      # warm: model load, BM25 build
    # the same store and models with sentence vectors flipped: what they cost per query, side by side
    flipped = Rag(settings.model_copy(update={"sentence_vectors": not settings.sentence_vectors}),
                  embedder=rag.embedder, store=rag.store)
    flipped.search(qs[0], k=10, collection=COLLECTION)
    runs = {"hybrid": (rag, "hybrid"), "dense": (rag, "dense"), "bm25": (rag, "bm25"),
            f"hybrid, sentence_vectors={not settings.sentence_vectors}": (flipped, "hybrid")}
    ms = {name: [] for name in runs}
    for _ in range(repeats):
        for i, q in enumerate(qs):   # interleaved query by query, so load drift hits every run alike
            names = list(runs)
            for name in names[i % len(names):] + names[:i % len(names)]:
                r, mode = runs[name]
                t = time.perf_counter()
                r.search(q, k=10, collection=COLLECTION, mode=mode)
                ms[name].append((time.perf_counter() - t) * 1000)
    out = {name: percentiles(v) for name, v in ms.items()}
    t = time.perf_counter()
    rag.embedder.embed(qs)
    out["query_embedding_only_ms_mean"] = round((time.perf_counter() - t) * 1000 / len(qs), 2)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="speed benchmarks")
    ap.add_argument("--docs", type=int, default=120, help="SciFact abstracts in the ingest comparison")
    ap.add_argument("--sentences", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="embedder threads (default: settings)")
    ap.add_argument("--only", choices=["ingest", "embedder", "query"], action="append")
    ap.add_argument("--data-dir", type=Path, default=OUT / "data")
    ap.add_argument("--cache", type=Path, default=OUT / "vectors.npz")
    ap.add_argument("--out", type=Path, default=OUT / "speed.json")
    a = ap.parse_args(argv)
    quiet_logging()
    root = scifact_dir()
    records = load_corpus(root)
    sample = random.Random(7).sample(records, a.docs)
    only = set(a.only or ["ingest", "embedder", "query"])
    out = {}
    if "query" in only:
        out["query_latency_ms"] = query_latency(root, a.data_dir, a.cache, 1)
        print("query latency", out["query_latency_ms"], flush=True)
    if "embedder" in only:
        out["embedder"] = embedder_batching(records, a.sentences, a.repeats)
        print("embedder", out["embedder"], flush=True)
    if "ingest" in only:
        out["ingest"] = ingest_ratios(sample, a.repeats, a.threads or load_settings().embed_threads)
        print("ingest", out["ingest"], flush=True)
    write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
