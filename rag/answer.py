"""Extractive answers: refuse or pick the scored evidence that answers the question, and cite each pick.

The evidence is judged in rag/evidence.py: each sentence's share of the question's softmax, and the
probability that the sources answer the question at all. The answer is refused when that probability is
below the threshold calibrated with the scorer (rag/scorer.json, overridable by RAG_REFUSE_BELOW); else it
leads with the best sentence and adds at most two more whose share is at least KEEP_RATIO of the best's,
within the word budget, none repeating another. No per-question rules.
"""
from __future__ import annotations

import re

from .chunking import locate
from .evidence import labelled
from .types import Citation, Evidence

REFUSAL = "The sources do not cover this question."
KEEP_RATIO = 0.1    # a further sentence must score at least this share of the best one (chosen on the dev sets)
REDUNDANT = 0.8     # a sentence sharing this share of its words with a chosen one adds nothing


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def select(evidence: list[Evidence], max_sentences: int, max_words: int) -> list[Evidence]:
    """The answer's sentences from evidence sorted best first: the best, then close seconds."""
    chosen, words = [], 0
    for ev in evidence:
        if len(chosen) >= max_sentences or ev.score < KEEP_RATIO * evidence[0].score:
            break
        n, own = len(ev.full_text.split()), _words(ev.full_text)
        overlaps = any(ev.hit.chunk.doc_id == c.hit.chunk.doc_id and ev.start < c.end and c.start < ev.end
                       for c in chosen)
        similar = any(len(own & _words(c.full_text)) >= REDUNDANT * max(len(own), 1) for c in chosen)
        if chosen and (words + n > max_words or overlaps or similar):
            continue
        chosen.append(ev)
        words += n
    return chosen


def cite(picks: list[Evidence], documents) -> list[Citation]:
    """Citations [1], [2], ... of the picks; documents(doc_id) gives the stored document for its locator."""
    cites = []
    for n, ev in enumerate(picks, start=1):
        c = ev.hit.chunk
        doc = documents(c.doc_id)
        cites.append(Citation(n=n, doc_id=c.doc_id, source=c.source, title=c.title, date=c.date,
                              locator=locate(doc, ev.start) if doc else c.locator, start=ev.start, end=ev.end,
                              quote=ev.quote, score=ev.score))
    return cites


def shown(question: str, ev: Evidence, n: int) -> str:
    """One pick as the answer shows it: its sentence(s), each followed by the marker (a sentence brought
    along with its neighbour is inside the same cited span), after its section heading when the sentence
    needs it (evidence.labelled)."""
    text = f"{ev.lead} [{n}] {ev.text} [{n}]" if ev.lead else f"{ev.text} [{n}]"
    return f"{ev.heading}: {text}" if labelled(question, ev) else text


def extractive_answer(question: str, evidence: list[Evidence], answerable: float, threshold: float, settings,
                      documents):
    """(answer text, refused, citations) from evidence sorted best first and the probability that it
    answers the question."""
    if not evidence or answerable < threshold:
        return REFUSAL, True, cite(evidence[:2], documents)
    picks = select(evidence, settings.max_sentences, settings.max_words)
    cites = cite(picks, documents)
    return " ".join(shown(question, ev, c.n) for ev, c in zip(picks, cites)), False, cites
