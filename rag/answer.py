"""Extractive answering: pick the sentences of the top passages that answer the question, cite each.

Every sentence is scored by   evidence = W_DENSE * cosine(query, sentence) + W_LEX * coverage,
where coverage is the share of the query's content terms (stemmed, stop words out) found in the
sentence. The answer is refused when the best evidence is below Settings.refuse_below, a threshold
calibrated on evals/datasets/corpus_qa.jsonl (see evals/calibrate.py); no per-question rules.
"""
from __future__ import annotations

import numpy as np

from .chunking import clean_sentence, sentence_spans, strip_refs
from .retrieval import bm25_tokens
from .types import Citation, Hit

W_DENSE, W_LEX = 0.6, 0.4
KEEP_RATIO = 0.85       # further sentences must score at least this share of the best one
REDUNDANT = 0.92        # a sentence this similar to a chosen one adds nothing
MIN_WORDS = 4
REFUSAL = "The sources do not cover this question."
SEE_ALSO = "Closest passages:"
QUESTION_TERMS = {"who", "what", "when", "where", "which", "why", "how", "whom", "whose", "doe", "did", "is"}


def query_terms(query: str) -> set[str]:
    return {t for t in bm25_tokens([query])[0] if t not in QUESTION_TERMS}


def candidate_sentences(hits: list[Hit]) -> list[tuple[Hit, int, int, str]]:
    """(hit, start, end, cleaned text) for every sentence of the hits, each span once."""
    out, seen = [], set()
    for hit in hits:
        c = hit.chunk
        for s, e in sentence_spans(c.text):
            s, e = strip_refs((s, e), c.text)
            key = (c.doc_id, c.start + s)
            text = clean_sentence(c.text[s:e])
            if key in seen or len(text.split()) < MIN_WORDS:
                continue
            seen.add(key)
            out.append((hit, c.start + s, c.start + e, text))
    return out


def score_sentences(query: str, qvec: np.ndarray, sentences: list, embedder) -> tuple[np.ndarray, np.ndarray]:
    """(evidence scores, sentence vectors)."""
    if not sentences:
        return np.zeros(0), np.zeros((0, embedder.dim))
    vecs = embedder.embed([s[3] for s in sentences])
    cos = vecs @ qvec
    terms = query_terms(query)
    sent_terms = bm25_tokens([s[3] for s in sentences])
    cover = np.array([len(terms & set(t)) / len(terms) if terms else 0.0 for t in sent_terms])
    return W_DENSE * cos + W_LEX * cover, vecs


def select(scores: np.ndarray, vecs: np.ndarray, sentences: list, max_sentences: int, max_words: int) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    chosen, words = [], 0
    for i in order:
        if len(chosen) >= max_sentences or scores[i] < KEEP_RATIO * scores[order[0]]:
            break
        n = len(sentences[i][3].split())
        if chosen and (words + n > max_words or max(vecs[chosen] @ vecs[i]) > REDUNDANT):
            continue
        chosen.append(int(i))
        words += n
    return chosen


def cite(sentences: list, picks: list[int], scores: np.ndarray, documents, locate) -> list[Citation]:
    cites = []
    for n, i in enumerate(picks, start=1):
        hit, s, e, _ = sentences[i]
        c, doc = hit.chunk, documents(hit.chunk.doc_id)
        cites.append(Citation(n=n, doc_id=c.doc_id, source=c.source, title=c.title, date=c.date,
                              locator=locate(doc, s) if doc else c.locator, start=s, end=e,
                              quote=c.text[s - c.start:e - c.start], score=float(scores[i])))
    return cites


def extractive_answer(question: str, query: str, qvec, hits: list[Hit], embedder, settings, documents, locate):
    """(answer text, refused, citations)."""
    sentences = candidate_sentences(hits)
    scores, vecs = score_sentences(query, qvec, sentences, embedder)
    if len(sentences) == 0 or scores.max() < settings.refuse_below:
        see_also = [int(i) for i in np.argsort(-scores, kind="stable")[:2]] if len(sentences) else []
        cites = cite(sentences, see_also, scores, documents, locate)
        return REFUSAL, True, cites
    picks = select(scores, vecs, sentences, settings.max_sentences, settings.max_words)
    cites = cite(sentences, picks, scores, documents, locate)
    text = " ".join(f"{sentences[i][3]} [{c.n}]" for i, c in zip(picks, cites))
    return text, False, cites
