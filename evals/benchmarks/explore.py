"""What else could lift SciFact hybrid nDCG@10? Train-split experiments, scored by document, in memory.

    python -m evals.benchmarks.explore [--late]

Every signal is a per-document score (a document scores as its best unit), min-max normalised over its top
100 documents and blended `w * dense + (1 - w) * lexical`, the shipped fusion lifted to documents. Signals:

- dense `chunk`: the shipped 256-token chunk vectors; `parent`: one vector per 512-token chunk (about one
  per abstract, cut at the model's 256 word pieces); `sentence`: each sentence embedded on its own (as the
  answer step embeds them); `late`: each sentence pooled from its tokens' states in its chunk's one model
  pass (free at ingest; `--late`, about 12 minutes); `meanvec`: a chunk vector made as the mean of its
  sentence vectors (no chunk embedding); `title`: the title alone.
- lexical `chunk`: the shipped BM25 (k1 0.9, b 0.4); `doc`: BM25 over the whole document (k1 1.2, b 0.75);
  `mix`: their average; plus BM25 variants and bigram tokens.

Every choice (each hybrid's dense weight) is made on the train split; `--test` then scores each hybrid once on
test, as it was chosen, to report what a trade would buy. Nothing here changes the shipped defaults. Vectors come from the benchmark cache (evals/benchmarks/out/vectors.npz);
what is missing is embedded (about 8 minutes for the 47k sentences).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rag import retrieval as R
from rag.chunking import chunk_document
from rag.text import sentence_spans
from rag.settings import load_settings

from .common import OUT, cached_embedder, load_corpus, load_qrels, load_queries, scifact_dir, score_run, to_document, write_json


def sentence_texts(doc) -> list[tuple[int, int, str]]:
    """(start, end, text to embed) of each sentence; short ones carry the title, as in rag/answer.py."""
    out = []
    for s, e in sentence_spans(doc.text):
        t = doc.text[s:e].strip()
        if t:
            out.append((s, e, t if len(t.split()) >= 8 else f"{doc.title}. {t}"))
    return out


def late_vectors(embedder, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[np.ndarray]:
    """One model pass per text; each (start, end) character span pooled from its tokens' hidden states."""
    out = []
    for text, sp in zip(texts, spans):
        enc = embedder.tokenizer.encode(text)
        ids = np.array([enc.ids], np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in embedder.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = embedder.session.run(None, feed)[0][0]
        offs = np.array(enc.offsets)
        rows = []
        for s, e in sp:
            sel = (offs[:, 1] > s) & (offs[:, 0] < e) & (offs[:, 1] > offs[:, 0])
            v = hidden[sel].mean(0) if sel.any() else np.zeros(hidden.shape[1], np.float32)
            rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
        out.append(np.array(rows, np.float32).reshape(len(sp), -1))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--late", action="store_true", help="also the late-pooled sentence vectors (~12 min)")
    ap.add_argument("--test", action="store_true", help="then score each hybrid, at the weight train chose, "
                                                        "once on test (a report, not a choice)")
    ap.add_argument("--out", default=str(OUT / "explore.json"))
    a = ap.parse_args(argv)
    import bm25s

    root, base = scifact_dir(), load_settings()
    emb = cached_embedder(base)
    docs = [to_document(r) for r in load_corpus(root)]
    qrels = load_qrels(root / "qrels" / "train.tsv")   # every choice is made on train
    allq = load_queries(root)
    nd = len(docs)
    dix = {d.id: i for i, d in enumerate(docs)}
    chunks = [c for d in docs for c in chunk_document(d, base.chunk_tokens, base.chunk_overlap)]
    cown = np.array([dix[c.doc_id] for c in chunks])
    s512 = base.model_copy(update={"chunk_tokens": 512})
    parents = [c for d in docs for c in chunk_document(d, 512, base.chunk_overlap)]
    pown = np.array([dix[c.doc_id] for c in parents])
    sents = [(dix[d.id], s, e, t) for d in docs for s, e, t in sentence_texts(d)]
    sown = np.array([x[0] for x in sents])
    t0 = time.perf_counter()
    V = {"chunk": emb.embed([R.index_text(c, base) for c in chunks]),
         "parent": emb.embed([R.index_text(c, s512) for c in parents]),
         "sentence": emb.embed([x[3] for x in sents]),
         "title": emb.embed([d.title for d in docs])}
    emb.save()
    print(f"vectors ready in {time.perf_counter() - t0:.0f} s ({emb.misses} embedded)", flush=True)
    # meanvec: chunk vector = mean of the sentence vectors inside the chunk
    mv = np.zeros_like(V["chunk"])
    by_doc: dict[int, list[int]] = {}
    for i, (di, s, e, _) in enumerate(sents):
        by_doc.setdefault(di, []).append(i)
    for j, c in enumerate(chunks):
        idx = [i for i in by_doc.get(dix[c.doc_id], []) if sents[i][1] < c.end and sents[i][2] > c.start]
        if idx:
            v = V["sentence"][idx].mean(0)
            mv[j] = v / np.linalg.norm(v)
    owners = {"chunk": cown, "parent": pown, "sentence": sown, "title": np.arange(nd), "meanvec": cown}
    V["meanvec"] = mv
    if a.late:
        t = time.perf_counter()
        texts = [R.index_text(c, base) for c in chunks]
        spans = [[(s + len(tx) - len(c.text), e + len(tx) - len(c.text)) for s, e in sentence_spans(c.text)]
                 for c, tx in zip(chunks, texts)]
        late = late_vectors(emb.inner, texts, spans)
        V["late"] = np.concatenate([v for v in late if len(v)])
        owners["late"] = np.concatenate([np.full(len(v), cown[j]) for j, v in enumerate(late) if len(v)])
        print(f"late vectors in {time.perf_counter() - t:.0f} s", flush=True)

    def per_doc(scores, own):
        out = np.full(nd, -1e9)
        np.maximum.at(out, own, scores)
        return out

    def bm25_model(texts, k1, b, method="lucene", bigrams=False):
        m = bm25s.BM25(k1=k1, b=b, method=method)
        m.index([grow(t, bigrams) for t in R.bm25_tokens(texts)], show_progress=False)
        return m

    def grow(tokens, bigrams):
        return tokens + [f"{x}_{y}" for x, y in zip(tokens, tokens[1:])] if bigrams else tokens

    def lexical(m, own, qids, bigrams=False):
        rows = []
        for q in qids:
            qt = [t for t in grow(R.bm25_tokens([allq[q]])[0], bigrams) if t in m.vocab_dict]
            rows.append(per_doc(m.get_scores(qt), own) if qt else np.zeros(nd))
        return np.stack(rows)

    ctext = [R.index_text(c, base) for c in chunks]
    models = {"chunk": (bm25_model(ctext, 0.9, 0.4), cown),
              "doc": (bm25_model([f"{d.title}\n{d.text}" for d in docs], 1.2, 0.75), np.arange(nd))}
    combos = {"chunk+sentence": ("chunk", "sentence"), "parent+sentence": ("parent", "sentence"),
              "chunk+parent": ("chunk", "parent"), "chunk+title/3": ("chunk", "title"),
              "meanvec+sentence": ("meanvec", "sentence")}
    if a.late:
        combos["chunk+late"] = ("chunk", "late")

    def signals(qids):
        """Per-query document scores of every dense and lexical signal, for the queries qids."""
        Q = emb.embed([allq[q] for q in qids])
        dense = {name: np.stack([per_doc(V[name] @ q, owners[name]) for q in Q]) for name in V}
        for name, (x, y) in combos.items():
            dense[name] = dense[x] + (dense[y] / 3 if name.endswith("/3") else dense[y])
        lex = {name: lexical(m, own, qids) for name, (m, own) in models.items()}
        return dense, lex

    def norm(x):
        idx = np.argpartition(-x, 99)[:100]
        lo, hi = x[idx].min(), x[idx].max()
        out = np.zeros(nd)
        out[idx] = (x[idx] - lo) / (hi - lo) if hi > lo else 1.0
        return out

    def score(rows, qids, qrels) -> float:
        return score_run({q: [docs[i].id for i in np.argsort(-r)[:10]] for q, r in zip(qids, rows)}, qrels)["ndcg@10"]

    def blend(dense, lex, dname, lname, w, qids, qrels) -> float:
        rows = []
        for i in range(len(qids)):
            lx = (norm(lex["chunk"][i]) + norm(lex["doc"][i])) / 2 if lname == "mix" else norm(lex[lname][i])
            rows.append(w * norm(dense[dname][i]) + (1 - w) * lx)
        return score(rows, qids, qrels)

    results = []

    def report(kind, name, value, **extra):
        results.append({"kind": kind, "name": name, "ndcg@10": round(value, 4), **extra})
        print(f"{kind:8} {name:30} {value:.4f} {extra or ''}", flush=True)

    qids = list(qrels)
    dense, lex = signals(qids)
    for name in dense:
        report("dense", name, score(dense[name], qids, qrels))
    for name in lex:
        report("bm25", name, score(lex[name], qids, qrels))
    for method in ("bm25+", "bm25l"):
        report("bm25", f"chunk {method}", score(lexical(bm25_model(ctext, 0.9, 0.4, method), cown, qids), qids, qrels))
    report("bm25", "chunk + bigrams", score(lexical(bm25_model(ctext, 0.9, 0.4, bigrams=True), cown, qids, True), qids, qrels))
    hybrids = []
    for dname in ("chunk", "parent", "meanvec+sentence", "chunk+sentence", "parent+sentence") + (("chunk+late",) if a.late else ()):
        for lname in ("chunk", "mix"):
            best = max((blend(dense, lex, dname, lname, w, qids, qrels), w) for w in (0.3, 0.4, 0.5, 0.6))
            report("hybrid", f"{dname} | {lname}", best[0], dense_weight=best[1])
            hybrids.append((dname, lname, best[1]))
    if a.test:   # each hybrid at the weight train chose, scored once on test: reported, never tuned on
        qrels_t = load_qrels(root / "qrels" / "test.tsv")
        qt = list(qrels_t)
        dense, lex = signals(qt)
        for dname, lname, w in hybrids:
            report("test", f"{dname} | {lname}", blend(dense, lex, dname, lname, w, qt, qrels_t), dense_weight=w)
    emb.save()
    write_json(Path(a.out), results)


if __name__ == "__main__":
    main()
