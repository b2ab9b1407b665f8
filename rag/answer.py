"""The answer step after retrieval: refuse, or generate from the passages, then cite and verify.

The evidence is judged in rag/evidence.py: each sentence's share of the question's softmax, and the
probability that the sources answer the question at all. The answer is refused when that probability is
below the threshold calibrated with the scorer (rag/scorer.json, overridable by RAG_REFUSE_BELOW), without
calling any model. Else the generator (rag/generator.py) writes from the best passages and every sentence it
writes is checked against the passages it cites (rag/verify.py) as soon as it is complete: a sentence no
cited passage supports is dropped (or shown marked, RAG_UNVERIFIED=mark). When an LLM is unreachable, or
none of its sentences holds up, the answer is the extractive one, and its notes say so.

`compose` yields events as the answer is made: ("token", text) as the generator writes, ("sentence", claim,
its citations) as each sentence is verified (a claim not kept retracts the sentence: drop it from what was
shown), and last ("answer", Answer) with empty timings, which replaces all that was streamed.
"""
from __future__ import annotations

import logging
import re
from typing import Generator, Iterator

from .chunking import locate
from .errors import LLMError
from .evidence import passages as make_passages
from .generator import Extractive, Note
from .types import Answer, Citation, Claim, Evidence, Passage
from .verify import _RUN, Checker, Citer, Span, claims, render

log = logging.getLogger(__name__)
REFUSAL = "The sources do not cover this question."
CANNOT = re.compile(r"\b(cannot|can ?not|can't|unable to) (answer|find|tell|determine)|\bnot (stated|mentioned|"
                    r"covered|answered) in the (passages|sources)|\b(passages|sources) do not (say|state|mention|"
                    r"cover|answer)", re.I)


def _citation(n: int, p: Passage, span: Span, documents) -> Citation:
    c = p.hit.chunk
    doc = documents(c.doc_id)
    inside = [ev.score for ev in p.evidence if span.start <= ev.start < span.end or ev.start <= span.start < ev.end]
    return Citation(n=n, doc_id=c.doc_id, source=c.source, title=c.title, date=c.date,
                    locator=locate(doc, span.start) if doc else c.locator, start=span.start, end=span.end,
                    quote=c.text[span.start - c.start:span.end - c.start], score=max(inside, default=p.score))


def see_also(evidence: list[Evidence], documents) -> list[Citation]:
    """The closest passages of a refused question."""
    return [_citation(n, Passage(ev.hit, ev.start, ev.end, [ev], ev.score), Span(ev.start, ev.end, ev.text, ()),
                      documents) for n, ev in enumerate(evidence[:2], start=1)]


def _complete(text: str) -> int:
    """Where the sentences of a growing generated text are complete: after the last marker run that other
    text follows ("... [2] The" or a new line)."""
    cut = 0
    for m in _RUN.finditer(text):
        if re.match(r"\s*\S", text[m.end():]) or "\n" in text[m.end():]:
            cut = m.end()
    return cut


def _verify_stream(pieces: Generator[str, None, None], citer: Citer, keep_unverified: bool, notes: list[str], documents,
                   out: list[Claim]):
    """Events of one generator's output, its sentences verified as they complete (appended to out); returns
    the raw text."""
    text, done = "", 0

    def checked(sentence, cited, run):
        out.append(citer.claim(sentence, cited, keep_unverified, run))
        return "sentence", out[-1], [_citation(n, *citer.used[n - 1], documents) for n in out[-1].citations]

    try:
        for piece in pieces:
            if isinstance(piece, Note):
                notes.append(str(piece))
                continue
            text += piece
            yield "token", piece
            cut = _complete(text)
            new = claims(text[:cut])[done:] if cut else []
            for claim in new:
                yield checked(*claim)
            done += len(new)
    finally:
        pieces.close()      # an answer closed early (connection closed) cancels the generator's request
    for claim in claims(text)[done:]:
        yield checked(*claim)
    return text


def compose(question: str, evidence: list[Evidence], answerable: float, threshold: float, generator,
            checker: Checker, settings, documents) -> Iterator[tuple]:
    """Events of one answer (see the module docstring); evidence is sorted best first."""
    def final(text, refused, cites, claims_=(), backend=generator.name):
        return "answer", Answer(question=question, answer=text, refused=refused, citations=list(cites),
                                backend=backend, timings_ms={}, sentences=list(claims_), notes=list(notes))

    notes: list[str] = []
    if not evidence or answerable < threshold:
        yield final(REFUSAL, True, see_also(evidence, documents))
        return
    found = make_passages(evidence, settings.passages)
    citer, made, raw, failed = Citer(found, checker), [], "", False
    try:
        raw = yield from _verify_stream(generator.generate(question, found), citer,
                                        settings.unverified == "mark", notes, documents, made)
    except LLMError as e:
        log.warning("answer backend %s failed: %s", generator.name, e)
        notes.append(f"{e} This is the extractive answer.")
        failed = True
        for claim in (c for c in made if c.kept):       # shown while streaming: retracted
            claim.kept = False
            yield "sentence", claim, []
    if not any(c.verified for c in made) and raw and CANNOT.search(raw):
        yield final(REFUSAL, True, see_also(evidence, documents), made)
        return
    backend = generator.name
    if not any(c.kept for c in made) and generator.name != Extractive.name:
        if not failed:
            notes.append("No sentence the language model wrote was supported by the passages it cited; "
                         "this is the extractive answer." if made else
                         "The language model wrote nothing; this is the extractive answer.")
        citer, backend = Citer(found, checker), Extractive.name
        yield from _verify_stream(Extractive(settings).generate(question, found), citer, False, notes, documents,
                                  made)
    if not any(c.kept for c in made):
        yield final(REFUSAL, True, see_also(evidence, documents), made, backend)
        return
    cites = [_citation(n, p, span, documents) for n, (p, span) in enumerate(citer.used, start=1)]
    yield final(render(made), False, cites, made, backend)
