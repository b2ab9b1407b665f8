"""Tune retrieval choices on the SciFact TRAIN split only (never test), fast and in memory.

Dense scores are exact cosines in numpy over the cached chunk vectors (what Chroma's HNSW approximates);
BM25 and fusion use the very functions of rag/retrieval.py. The chosen settings are then measured for
real, through Chroma, by `python -m evals.benchmarks.scifact`.

    python -m evals.benchmarks.tune [--split train] [--out evals/benchmarks/out/tune.json]
    python -m evals.benchmarks.tune --sentences   # the sentence-vector defaults (dense weight, sentence
                                                  # weight, candidates, BM25 k1/b), exact sentence cosines
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from rag import retrieval as R
from rag.chunking import chunk_document
from rag.ingest import sentence_rows
from rag.settings import load_settings

from .common import (OUT, cached_embedder, doc_ranking, load_corpus, load_qrels, load_queries, scifact_dir,
                     score_run, to_document, write_json)


class Lab:
    """Chunks, vectors and BM25 sides of one chunking/title variant, with memoised candidate lists."""

    DEEP = 200

    def __init__(self, settings, emb, docs, queries: dict[str, str], with_vectors: bool = True):
        self.s = settings
        self.chunks = [c for d in docs for c in chunk_document(d, settings.chunk_tokens, settings.chunk_overlap)]
        self.vecs = emb.embed([R.index_text(c, settings) for c in self.chunks]) if with_vectors else None
        self.chunk_of = {c.id: c for c in self.chunks}
        self.vec_of = dict(zip([c.id for c in self.chunks], self.vecs)).get if with_vectors else None
        self.qtext = queries
        self.qvecs = dict(zip(list(queries), emb.embed(list(queries.values()))))
        self._bm25, self._dense, self._lex, self._sent = {}, {}, {}, {}
        self.svecs = self.sowner = None

    def with_sentences(self, emb) -> "Lab":
        """Also the sentence vectors the ingest stores (collection NAME.sentences), one per sentence row."""
        rows = sentence_rows(self.chunks)
        self.svecs = emb.embed([t for _, _, t in rows])
        self.sowner = [i.rsplit(":s", 1)[0] for i, _, _ in rows]
        return self

    def sentences_q(self, q: str, n: int, top: int = 1) -> list:
        """(chunk id, cosine of its best sentence) among the n nearest sentences: ChromaStore.dense_sentence_ids,
        exact (top=2: the mean of its two best there, a variant)."""
        key = (q, n, top)
        if key not in self._sent:
            sims = self.svecs @ self.qvecs[q]
            near = np.argpartition(-sims, n - 1)[:n]
            best: dict[str, list[float]] = {}
            for i in near[np.argsort(-sims[near], kind="stable")]:
                best.setdefault(self.sowner[i], []).append(float(sims[i]))
            self._sent[key] = [(c, float(np.mean(v[:top]))) for c, v in best.items()]
        return self._sent[key]

    def bm25(self, k1: float, b: float) -> R.BM25Side:
        if (k1, b) not in self._bm25:
            self._bm25[(k1, b)] = R.BM25Side.build(self.chunks, 0, self.s.model_copy(update={"bm25_k1": k1, "bm25_b": b}))
        return self._bm25[(k1, b)]

    def lexical(self, q: str, k1: float, b: float, n: int) -> list:
        key = (q, k1, b)
        if key not in self._lex:
            self._lex[key] = self.bm25(k1, b).search(self.qtext[q], self.DEEP)
        return self._lex[key][:n]

    def dense_q(self, q: str, n: int) -> list:
        if q not in self._dense:
            self._dense[q] = self.dense(self.qvecs[q], self.DEEP)
        return self._dense[q][:n]

    def dense(self, qvec: np.ndarray, n: int) -> list:
        sims = self.vecs @ qvec
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.chunks[i].id, float(sims[i])) for i in top]


def prf_vector(qvec: np.ndarray, ids: list[str], vector_of, weight: float) -> np.ndarray:
    """Rocchio feedback: the query vector moved towards the mean of the top chunks' vectors."""
    vecs = [v for v in (vector_of(i) for i in ids) if v is not None]
    if not vecs or weight <= 0:
        return qvec
    v = np.asarray(qvec, np.float32) + weight * np.mean(np.asarray(vecs, np.float32), axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def rm3(lab: Lab, q: str, s, feedback, n_terms: int, weight: float, n: int) -> list:
    """BM25 with the query expanded by the top terms of the feedback chunks (RM3-like, uniform weights)."""
    side = lab.bm25(s.bm25_k1, s.bm25_b)
    vocab = side.vocab
    qt = [t for t in R.bm25_tokens([lab.qtext[q]])[0] if t in vocab]
    weights: dict[str, float] = {}
    for toks in R.bm25_tokens([R.index_text(c, s) for c in feedback]):
        for t in toks:
            if t in vocab and t not in qt:
                weights[t] = weights.get(t, 0.0) + 1.0 / max(len(toks), 1)
    exp = sorted(weights, key=lambda t: -weights[t])[:n_terms]
    scores = side.scores(qt)
    if exp:
        scores = scores + weight * side.scores(exp)
    n = min(n, len(scores))
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(side.ids[i], float(scores[i])) for i in top if scores[i] > 0]


def run(lab: Lab, qids, cfg: dict, k: int = 10) -> dict[str, list[str]]:
    """The Retriever.search logic with in-memory candidate lists (exact dense instead of HNSW)."""
    s = lab.s.model_copy(update={key: v for key, v in cfg.items() if key in type(lab.s).model_fields})
    mode = cfg.get("mode", "hybrid")
    n = max(k, s.candidates)
    out = {}
    for q in qids:
        dense = lab.dense_q(q, n) if mode != "bm25" else []
        if cfg.get("three_way"):   # not shipped: chunk cosine, best sentence and BM25 each min-max normalised
            fused = R.blend([dense, lab.sentences_q(q, n), lab.lexical(q, s.bm25_k1, s.bm25_b, n)],
                            list(cfg["three_way"]))
            out[q] = doc_ranking([lab.chunk_of[i].doc_id for i, _ in fused[:k]])
            continue
        if cfg.get("sentence_vectors") and dense:   # Retriever._dense with sentence vectors
            sent = lab.sentences_q(q, cfg.get("sentence_k", n), cfg.get("sentence_top", 1))
            dense = R.add_sentences(dense, sent, cfg.get("sentence_weight", 1.0))
        lexical = lab.lexical(q, s.bm25_k1, s.bm25_b, n) if mode != "dense" else []
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        else:
            fused = R.fuse(dense, lexical, s)
            if cfg.get("rm3_docs"):
                lexical = rm3(lab, q, s, [lab.chunk_of[i] for i, _ in fused[:cfg["rm3_docs"]]], cfg["rm3_terms"], cfg["rm3_weight"], n)
                fused = R.fuse(dense, lexical, s)
            if cfg.get("prf_docs"):
                qv2 = prf_vector(lab.qvecs[q], [i for i, _ in fused[:cfg["prf_docs"]]], lab.vec_of, cfg["prf_weight"])
                fused = R.fuse(lab.dense(qv2, n), lexical, s)
        out[q] = doc_ranking([lab.chunk_of[i].doc_id for i, _ in fused[:k]])
    return out


def sentence_sweep(a, base, emb, docs, queries, report, results) -> dict:
    """Sentence vectors in the dense side (Retriever._dense): the fusion's dense weight, the best sentence's
    weight beside the chunk cosine, the candidates taken from each side, then BM25 k1/b at the best of those."""
    lab = Lab(base, emb, docs, queries).with_sentences(emb)
    emb.save()
    shipped = {"mode": "hybrid", "fusion": "blend", "bm25_k1": base.bm25_k1, "bm25_b": base.bm25_b}
    report("chunks", lab, {**shipped, "dense_weight": base.dense_weight, "candidates": base.candidates})
    report("sentences", lab, {"mode": "dense", "sentence_vectors": True})
    for w, sw, n in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7), (0.5, 1.0, 1.5, 2.0), (50, 100, 200)):
        report("sentences", lab, {**shipped, "sentence_vectors": True, "dense_weight": w, "sentence_weight": sw,
                                  "candidates": n})
    mine = [r for r in results if r["variant"] == "sentences" and r["mode"] == "hybrid"]
    best = max(mine, key=lambda r: r["ndcg@10"])
    cfg = {k: best[k] for k in ("mode", "fusion", "sentence_vectors", "dense_weight", "sentence_weight", "candidates",
                                "bm25_k1", "bm25_b")}
    for sk in (cfg["candidates"] // 2, cfg["candidates"] * 2, cfg["candidates"] * 3):
        report("sentences", lab, {**cfg, "sentence_k": sk})
    for k1, b in ((1.2, 0.75), (1.2, 0.5), (0.9, 0.3), (0.9, 0.5), (0.7, 0.4), (1.1, 0.4)):
        report("sentences", lab, {**cfg, "bm25_k1": k1, "bm25_b": b})
    for wc, ws in itertools.product((0.1, 0.2, 0.25, 0.3, 0.4), repeat=2):   # chunk, sentence, BM25 blended apart
        if 1 - wc - ws > 0.2:
            report("3-way", lab, {**shipped, "three_way": (wc, ws, round(1 - wc - ws, 2)),
                                  "candidates": cfg["candidates"]})
    report("top-2", lab, {**cfg, "sentence_top": 2})
    best = max((r for r in results if r["variant"] == "sentences" and r["mode"] == "hybrid"), key=lambda r: r["ndcg@10"])
    print("best on", a.split, best, flush=True)
    write_json(Path(a.out), results)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train", choices=["train"], help="tuning uses train only")
    ap.add_argument("--out", default=str(OUT / "tune.json"))
    ap.add_argument("--chunk-tokens", type=lambda v: [int(x) for x in v.split(",")], default=[256, 512],
                    help="chunk sizes compared (the first gets the feedback and no-title runs)")
    ap.add_argument("--sentences", action="store_true", help="only the sentence-vector sweep (RAG_SENTENCE_VECTORS)")
    a = ap.parse_args(argv)
    root = scifact_dir()
    base = load_settings()
    emb = cached_embedder(base)
    docs = [to_document(r) for r in load_corpus(root)]
    qrels = load_qrels(root / "qrels" / f"{a.split}.tsv")
    allq = load_queries(root)
    queries = {q: allq[q] for q in qrels}
    results = []

    def report(name, lab, cfg):
        t = time.perf_counter()
        m = score_run(run(lab, list(queries), cfg), qrels)
        results.append({"variant": name, **cfg, **m})
        print(f"{name:10} {cfg} -> nDCG@10 {m['ndcg@10']:.4f} R@10 {m['recall@10']:.3f} ({time.perf_counter() - t:.1f}s)",
              flush=True)
        return m["ndcg@10"]

    def cached(lab_settings) -> bool:
        texts = [R.index_text(c, lab_settings) for d in docs
                 for c in chunk_document(d, lab_settings.chunk_tokens, lab_settings.chunk_overlap)]
        return all(emb.key(t) in emb.cache for t in texts)

    def sweep(name, lab, feedback: bool) -> dict:
        """BM25 parameters, then fusion (with the two best BM25 settings), then feedback; the best config."""
        report(name, lab, {"mode": "dense"})
        for k1, b in ((1.5, 0.75), (1.2, 0.75), (0.9, 0.4), (1.2, 0.5), (1.2, 0.9), (2.0, 0.75)):
            report(name, lab, {"mode": "bm25", "bm25_k1": k1, "bm25_b": b})
        mine = [r for r in results if r["variant"] == name]
        top_bm25 = sorted((r for r in mine if r["mode"] == "bm25"), key=lambda r: -r["ndcg@10"])[:2]
        for r, fusion, w, n in itertools.product(top_bm25, ("rrf", "blend"), (0.3, 0.4, 0.5, 0.6, 0.7), (20, 50, 100)):
            cfg = {"mode": "hybrid", "fusion": fusion, "dense_weight": w, "candidates": n, "prf_docs": 0,
                   "bm25_k1": r["bm25_k1"], "bm25_b": r["bm25_b"]}
            for rk in ((10, 60) if fusion == "rrf" else (base.rrf_k,)):
                report(name, lab, {**cfg, "rrf_k": rk})
        best = max((r for r in results if r["variant"] == name and r["mode"] == "hybrid"), key=lambda r: r["ndcg@10"])
        cfg = {k: best[k] for k in ("mode", "fusion", "dense_weight", "candidates", "rrf_k", "bm25_k1", "bm25_b")}
        if feedback:
            for m, w in itertools.product((3, 5, 10), (0.5, 1.0, 2.0)):
                report(name, lab, {**cfg, "prf_docs": m, "prf_weight": w})
            for m, t, w in itertools.product((3, 5), (10, 20), (0.2, 0.4)):
                report(name, lab, {**cfg, "prf_docs": 0, "rm3_docs": m, "rm3_terms": t, "rm3_weight": w})
        return cfg

    if a.sentences:
        return sentence_sweep(a, base, emb, docs, queries, report, results)
    # 1. chunk size, with the title in the indexed text (sizes whose vectors are cached)
    cfgs = {}
    for ct in a.chunk_tokens:
        s_ct = base.model_copy(update={"index_title": True, "chunk_tokens": ct})
        if not cached(s_ct):
            print(f"chunk_tokens={ct}: vectors not cached, skipped", flush=True)
            continue
        cfgs[ct] = sweep(f"title-{ct}", Lab(s_ct, emb, docs, queries), feedback=ct == a.chunk_tokens[0])
    # 2. the same without the title (vectors only if they are cached: embedding is slow here)
    s_plain = base.model_copy(update={"index_title": False, "chunk_tokens": a.chunk_tokens[0]})
    cfg = cfgs[a.chunk_tokens[0]]
    has_vectors = cached(s_plain)
    plain = Lab(s_plain, emb, docs, queries, with_vectors=has_vectors)
    report(f"plain-{a.chunk_tokens[0]}", plain, {"mode": "bm25", "bm25_k1": cfg["bm25_k1"], "bm25_b": cfg["bm25_b"]})
    if has_vectors:
        report(f"plain-{a.chunk_tokens[0]}", plain, {"mode": "dense"})
        report(f"plain-{a.chunk_tokens[0]}", plain, {**cfg, "prf_docs": 0})
    else:
        print("plain: chunk vectors not cached, dense/hybrid skipped", flush=True)
    best = max((r for r in results if r["mode"] == "hybrid" and not r.get("prf_docs") and not r.get("rm3_docs")),
               key=lambda r: r["ndcg@10"])
    print("best on", a.split, best, flush=True)
    write_json(Path(a.out), results)


if __name__ == "__main__":
    main()
