"""Cite and verify: a generated answer's sentences, each checked against the passages it cites.

A generated text cites passages with markers: "The annex opened in May [2]." A sentence takes the markers
that follow it, or else those of the next marker run in its paragraph ("A. B. [1]": both rest on [1]). Each
sentence is checked against every passage it cites, span by span (one sentence of the passage, or two
neighbouring ones): it is supported by a span that states it verbatim, or that holds every number it states
and covers enough of its content words (lexical), alone or with a close embedding (the sentence vectors
computed at ingest), and, when an entailment check is given, that the model says entails it. The citation's
quote is the best supporting span, so the highlight is exact. Markers that point at no passage, or at one
that does not support the sentence, are dropped; a sentence no cited passage supports is not verified.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .segmenter import segment
from .text import bm25_tokens, clean_sentence
from .types import Claim, Passage

_RUN = re.compile(r"((?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+)([.!?;:,]*)")
_NUM = re.compile(r"\d+(?:[.,:]\d+)*")
LEXICAL = 0.75        # share of a sentence's content words a span must hold to support it on its own
LEXICAL_EMBEDDED = 0.5  # ... when the span is also at least EMBEDDING close and no word is foreign to the passages
EMBEDDING = 0.6
ENTAILMENT = 0.5      # the model's probability of "yes", when it is asked
MIN_WORDS = 2         # content words a sentence needs to be checked by word overlap (a lone word states nothing)


def claims(text: str) -> list[tuple[str, list[int], int]]:
    """(sentence without markers, passage numbers it cites, which run of text before a marker it is in) for
    each sentence of a generated text."""
    out, run = [], 0
    for para in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        pos = 0
        for m in list(_RUN.finditer(para)) + [None]:
            piece = " ".join((para[pos:m.start() if m else len(para)] + (m.group(2) if m else "")).split())
            cited = sorted({int(n) for n in re.findall(r"\d+", m.group(1))}) if m else []
            for s, e in segment(piece):
                sentence = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", clean_sentence(piece[s:e]))
                if re.search(r"\w", sentence):
                    out.append((sentence, cited, run))
            pos, run = (m.end() if m else len(para)), run + 1
    return out


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUM.findall(text)}


@dataclass
class Span:
    """A candidate quote inside a passage: one or two neighbouring sentences of its chunk."""
    start: int
    end: int
    text: str
    indices: tuple[int, ...]   # positions in the chunk's sentences


def spans(p: Passage) -> list[Span]:
    c = p.hit.chunk
    sents = [(k, s, e) for k, (s, e, kind) in enumerate(c.sentences) if s >= p.start and e <= p.end]
    out = [Span(s, e, clean_sentence(c.text[s - c.start:e - c.start]), (k,)) for k, s, e in sents]
    out += [Span(a.start, b.end, f"{a.text} {b.text}", a.indices + b.indices) for a, b in zip(out, out[1:])]
    return out


def verbatim(sentence: str, span: Span, p: Passage) -> bool:
    """Does the span state the sentence word for word: the sentence is it, or a part of it of 4 words or more
    (a lone word copied from a passage states nothing), or it is nearly all of the sentence (a mark added), or
    the sentence is it after a label its chunk holds (a heading: "Timeout: 30 s."; a changelog's "2.33.1 ›
    Bugfixes", each part a heading of the chunk or of the section it starts in)?"""
    if sentence == span.text or (sentence in span.text and len(sentence.split()) >= 4) or (
            span.text in sentence and len(span.text) >= 0.9 * len(sentence)):
        return True
    label = sentence[:-len(span.text)].rstrip(": ") if sentence.endswith(span.text) else ""
    c = p.hit.chunk
    return bool(label) and all(part in c.text or part in c.locator or part == c.title for part in label.split(" › "))


class Checker:
    """Checks sentences against passages. embed(texts) -> unit vectors; vectors(chunk, indices) -> the stored
    unit vectors of those sentences of the chunk; entails(premise, hypothesis) -> probability or None."""

    def __init__(self, embed, vectors, entails=None):
        self.embed, self.vectors, self.entails = embed, vectors, entails
        self._words: tuple[int, set] = (0, set())
        self._tokens: dict[str, set[str]] = {}      # content words of each span's text, computed once

    def _content(self, text: str) -> set[str]:
        if text not in self._tokens:
            self._tokens[text] = set(bm25_tokens([text])[0])
        return self._tokens[text]

    def _pool(self, passages: list[Passage]) -> set[str]:
        """Every content word of the passages the generator was given."""
        if self._words[0] != id(passages):
            self._words = (id(passages), set().union(*bm25_tokens([p.text for p in passages])))
        return self._words[1]

    def check(self, sentence: str, cited: list[int], passages: list[Passage]) -> tuple[dict[int, Span], dict]:
        """({passage number: best supporting span} for the cited passages that support the sentence,
        support scores of the best span over all cited passages)."""
        best: dict[int, tuple[float, Span, dict]] = {}
        words = set(bm25_tokens([sentence])[0])
        numbers = _numbers(sentence)
        qvec = None
        for n in cited:
            if not 1 <= n <= len(passages):
                continue
            for span in spans(passages[n - 1]):
                if verbatim(sentence, span, passages[n - 1]):     # the share of the sentence it states
                    score = {"lexical": min(len(span.text) / len(sentence), 1.0), "embedding": 1.0}
                elif not numbers <= _numbers(span.text) or len(words) < MIN_WORDS:
                    continue
                else:
                    lexical = len(words & self._content(span.text)) / len(words)
                    if lexical < LEXICAL_EMBEDDED:
                        continue
                    if qvec is None:
                        qvec = self.embed([sentence])[0]
                    vecs = self.vectors(passages[n - 1].hit.chunk, span.indices)
                    v = vecs.sum(0)
                    score = {"lexical": lexical, "embedding": float(v @ qvec / (np.linalg.norm(v) or 1.0))}
                    if lexical < LEXICAL and (score["embedding"] < EMBEDDING or words - self._pool(passages)):
                        continue
                rank = score["lexical"] + score["embedding"] - 0.05 * (len(span.indices) - 1)
                if n not in best or rank > best[n][0]:
                    best[n] = (rank, span, score)
        if self.entails is not None:
            for n in list(best):
                p = self.entails(best[n][1].text, sentence)
                if p is not None:
                    best[n][2]["entailment"] = p
                    if p < ENTAILMENT:
                        del best[n]
        top = max(best.values(), key=lambda b: b[0], default=None)
        return {n: b[1] for n, b in best.items()}, (top[2] if top else {})


class Citer:
    """Numbers the quotes of an answer as its sentences are verified: [1], [2], ... by first use. Sentences of
    one run of text before a marker ("A. B. [1]") whose quotes are neighbours in a passage share one quote."""

    def __init__(self, passages: list[Passage], checker: Checker):
        self.passages, self.checker = passages, checker
        self.used: list[tuple[Passage, Span]] = []      # citation n is used[n - 1]
        self.last: tuple[int, dict[int, int]] = (-1, {})  # run of the last sentence, {passage: citation}

    def _number(self, n: int, span: Span, run: int) -> int:
        p = self.passages[n - 1]
        k = self.last[1].get(n) if self.last[0] == run else None
        if k is not None:
            prev = self.used[k - 1][1]
            c = p.hit.chunk
            a, b = sorted([prev, span], key=lambda x: x.start)
            if not c.text[a.end - c.start:b.start - c.start].strip():     # touching or overlapping
                lo, hi = min(prev.start, span.start), max(prev.end, span.end)
                self.used[k - 1] = (p, Span(lo, hi, c.text[lo - c.start:hi - c.start], prev.indices + span.indices))
                return k
        for k, (q, used) in enumerate(self.used, start=1):
            if q.hit.chunk.doc_id == p.hit.chunk.doc_id and (used.start, used.end) == (span.start, span.end):
                return k
        self.used.append((p, span))
        return len(self.used)

    def claim(self, sentence: str, cited: list[int], keep_unverified: bool = False, run: int = 0) -> Claim:
        """A sentence the generator cited nowhere is checked against every passage (small models often forget
        the markers); one whose markers are wrong or dangling is not: it was attributed, wrongly."""
        support, scores = self.checker.check(sentence, cited or list(range(1, len(self.passages) + 1)),
                                             self.passages)
        numbers = {n: self._number(n, span, run) for n, span in support.items()}
        self.last = (run, numbers)
        verified = bool(support)
        return Claim(text=sentence, cited=cited, citations=sorted(set(numbers.values())), verified=verified,
                     kept=verified or keep_unverified, support=scores)


def render(claims_: list[Claim]) -> str:
    """The answer text of the kept sentences, each followed by its markers."""
    return " ".join((c.text if c.verified else f"{c.text} [unverified]")
                    + (" " + "".join(f"[{n}]" for n in c.citations) if c.citations else "")
                    for c in claims_ if c.kept)
