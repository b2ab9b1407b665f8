"""Generators: what writes an answer from numbered passages, chosen by RAG_BACKEND from a registry.

A generator streams the answer text in pieces; every sentence is followed by the [n] of the passage(s) it
rests on (numbered from 1 in the order given). What it writes is then cited and verified (rag/verify.py):
only sentences a cited passage supports are shown as supported. A piece that is a `Note` is not answer text
but something the answer object should tell (e.g. passages left out to fit the model's context window).

The extractive generator quotes the best evidence sentences as they are; the LLM generators (rag/llm.py)
write through llama-index. Tests register fakes with `register` like the real ones.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator, Protocol

from .errors import ConfigError
from .evidence import labelled
from .types import Evidence, Passage

KEEP_RATIO = 0.05   # a further sentence must score at least this share of the best one (out of fold on the dev
                    # sets: 0.1 -> 0.05 -> 0.03 hold the fact in 0.779 -> 0.789 -> 0.795 of answers, with
                    # 35 -> 38 -> 40 words)
REDUNDANT = 0.8     # a sentence sharing this share of its words with a chosen one adds nothing


class Note(str):
    """A piece of a generator's output that is a remark for the answer object, not answer text."""


class Generator(Protocol):
    name: str
    context_tokens: int | None      # tokens the passages may take in the prompt; None: no limit

    def generate(self, question: str, passages: list[Passage]) -> Iterator[str]:
        """The answer text in pieces, citing passages[n - 1] as [n] after each sentence."""


GENERATORS: dict[str, Callable] = {}


def register(name: str, factory: Callable) -> None:
    """Make `factory(settings) -> Generator` the backend called `name` (RAG_BACKEND=name)."""
    GENERATORS[name] = factory


def make_generator(settings) -> Generator:
    try:
        factory = GENERATORS[settings.backend]
    except KeyError:
        raise ConfigError(f"unknown answer backend '{settings.backend}'; set RAG_BACKEND to one of "
                          f"{', '.join(sorted(GENERATORS))}") from None
    return factory(settings)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def select(evidence: list[Evidence], max_sentences: int, max_words: int) -> list[Evidence]:
    """The answer's sentences from evidence sorted best first: the best, then close seconds."""
    chosen, words = [], 0
    for ev in evidence:
        if ev.score < KEEP_RATIO * evidence[0].score:
            break
        n, own = len(ev.full_text.split()), _words(ev.full_text)
        inside = next((c for c in chosen if ev.hit.chunk.doc_id == c.hit.chunk.doc_id and ev.start <= c.start
                       and c.end <= ev.end and (ev.start, ev.end) != (c.start, c.end)), None)
        if inside is not None:      # a chosen sentence with the one it brings along ("It only has to be unique")
            if words - len(inside.full_text.split()) + n <= max_words:
                chosen[chosen.index(inside)] = ev
                words += n - len(inside.full_text.split())
            continue
        if len(chosen) >= max_sentences:
            break
        overlaps = any(ev.hit.chunk.doc_id == c.hit.chunk.doc_id and ev.start < c.end and c.start < ev.end
                       for c in chosen)
        similar = any(len(own & _words(c.full_text)) >= REDUNDANT * max(len(own), 1) for c in chosen)
        if chosen and (words + n > max_words or overlaps or similar):
            continue
        chosen.append(ev)
        words += n
    return chosen


def shown(question: str, ev: Evidence, n: int) -> str:
    """One pick as the answer shows it: its sentence(s) and the marker (a sentence brought along with its
    neighbour is inside the same cited span), after its section heading when the sentence needs it
    (evidence.labelled)."""
    text = f"{ev.full_text} [{n}]"
    return f"{ev.heading}: {text}" if labelled(question, ev) else text


class Extractive:
    """Quotes the best evidence: the best sentence, then up to two close seconds within the word budget."""
    name = "extractive"
    context_tokens = None

    def __init__(self, settings):
        self.settings = settings

    def generate(self, question: str, passages: list[Passage]) -> Iterator[str]:
        where = {id(ev): n for n, p in enumerate(passages, start=1) for ev in p.evidence}
        ranked = sorted((ev for p in passages for ev in p.evidence), key=lambda ev: -ev.score)
        for i, ev in enumerate(select(ranked, self.settings.max_sentences, self.settings.max_words)):
            yield (" " if i else "") + shown(question, ev, where[id(ev)])


def _llm(kind: str) -> Callable:
    def factory(settings):
        from .llm import LLMGenerator
        return LLMGenerator(settings, kind)
    return factory


register("extractive", Extractive)
register("openai", _llm("openai"))
register("ollama", _llm("ollama"))
