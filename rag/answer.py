"""Extractive answering: pick the sentences of the top passages that answer the question, cite each.

Every sentence is scored by   evidence = W_DENSE * cosine(query, sentence) + W_LEX * coverage,
where coverage is the share of the query's content terms (stemmed, stop words out) found in the
sentence. The answer is refused when the best evidence is below Settings.refuse_below, a threshold
calibrated on evals/datasets/corpus_qa.jsonl (see evals/calibrate.py); no per-question rules.
"""
from __future__ import annotations

import re

import numpy as np

from .chunking import clean_sentence, sentence_spans, strip_refs
from .retrieval import bm25_tokens
from .types import Citation, Hit

W_DENSE, W_LEX = 0.6, 0.4
TYPE_PENALTY = 0.6      # a sentence without the kind of answer the question asks for (a date, a number)
PREV_WEIGHT = 0.5       # share of credit for query terms found only in the previous sentence
SHORT = 8               # sentences shorter than this are embedded with their document's title as context
KEEP_RATIO = 0.85       # further sentences must score at least this share of the best one
REDUNDANT = 0.92        # a sentence this similar to a chosen one adds nothing
MIN_WORDS = 3
_DATE_Q = re.compile(r"^\s*(when\b|(in |on )?what (year|date|day|month)\b|how long ago\b)", re.I)
_NUMBER_Q = re.compile(r"\bhow (much|many|big|large|long)\b|\bwhat (percentage|proportion|share|amount|number)\b", re.I)
_DATE = re.compile(r"\b((\d{1,2} )?(January|February|March|April|May|June|July|August|September|October|November|"
                   r"December)( \d{1,2})?,? )?(1[89]\d\d|20\d\d)\b|\b(January|February|March|April|May|June|July|August|September|"
                   r"October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
                   r"|\b(yesterday|today|tomorrow|last|next) (week|month|year)\b", re.I)
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|"
                     r"thousand|million|billion|dozen|half|double|twice)\b", re.I)
REFUSAL = "The sources do not cover this question."
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
            if key in seen or len(text.split()) < MIN_WORDS or text.startswith("#"):  # markdown headings
                continue
            seen.add(key)
            out.append((hit, c.start + s, c.start + e, text))
    return out


def embed_text(sentence) -> str:
    """What a candidate sentence is embedded as: itself, after its document's title when it is short."""
    hit, _, _, text = sentence
    return text if len(text.split()) >= SHORT else f"{hit.chunk.title}. {text}"


def answer_type(question: str) -> re.Pattern | None:
    """What a fitting sentence must contain: a date for "when ...?", a number for "how many ...?"."""
    return _DATE if _DATE_Q.search(question) else _NUMBER if _NUMBER_Q.search(question) else None


def score_sentences(question: str, query: str, qvec: np.ndarray, sentences: list, embedder):
    """(evidence scores, sentence vectors)."""
    if not sentences:
        return np.zeros(0), np.zeros((0, len(qvec)))
    texts = [embed_text(s) for s in sentences]
    vecs = embedder.embed(texts)
    cos = vecs @ qvec
    terms = query_terms(query)
    sent_terms = [set(t) for t in bm25_tokens(texts)]
    cover = np.zeros(len(sentences))
    for i, own in enumerate(sent_terms):   # the previous sentence of the same passage counts half ("these zones")
        prev = sent_terms[i - 1] if i and sentences[i - 1][0] is sentences[i][0] else set()
        cover[i] = (len(terms & own) + PREV_WEIGHT * len(terms & (prev - own))) / len(terms) if terms else 0.0
    scores = W_DENSE * cos + W_LEX * cover
    wanted = answer_type(question)
    if wanted is not None:
        # a date is not an amount: look for numbers only outside date expressions
        found = [wanted.search(s[3] if wanted is _DATE else _DATE.sub(" ", s[3])) for s in sentences]
        scores *= np.array([1.0 if f else TYPE_PENALTY for f in found])
    return scores, vecs


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
    scores, vecs = score_sentences(question, query, qvec, sentences, embedder)
    if len(sentences) == 0 or scores.max() < settings.refuse_below:
        see_also = [int(i) for i in np.argsort(-scores, kind="stable")[:2]] if len(sentences) else []
        cites = cite(sentences, see_also, scores, documents, locate)
        return REFUSAL, True, cites
    picks = select(scores, vecs, sentences, settings.max_sentences, settings.max_words)
    cites = cite(sentences, picks, scores, documents, locate)
    text = " ".join(f"{sentences[i][3]} [{c.n}]" for i, c in zip(picks, cites))
    return text, False, cites
