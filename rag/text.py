"""Text helpers shared by the write path (chunking, ingest) and the read path (retrieval, answers):
blocks, sentence spans, quote cleaning, BM25 tokens and the text a chunk is indexed as."""
from __future__ import annotations

import re
from functools import lru_cache

from .segmenter import segment

REF_MARKERS = re.compile(r"(?:\[\d+\])+")   # a source's own reference markers: "[6][8]"
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


def blocks_of(text: str, blocks=None) -> list[tuple[int, int, str]]:
    """The document's blocks; for documents without block structure, every non-empty line is a text block."""
    if blocks:
        return [tuple(b) for b in blocks]
    out = []
    for m in re.finditer(r"[^\n]+", text):
        seg = m.group()
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            out.append((m.start() + lead, m.start() + len(seg.rstrip()), "text"))
    return out


CODE_UNIT_WORDS = 40   # a longer code block is cut into units of whole lines (an answer shows at most 60 words)


def segment_block(block: str, kind: str = "text") -> list[tuple[int, int]]:
    """Sentence spans inside one block; a code block is one unit, or units of lines when it is long."""
    if kind == "code":
        if len(block.split()) > CODE_UNIT_WORDS:
            return code_units(block)
        return [(len(block) - len(block.lstrip()), len(block.rstrip()))] if block.strip() else []
    spans = segment(block)
    if kind == "item" and len(spans) > 1 and _MARKER.fullmatch(block[spans[0][0]:spans[0][1]]):
        spans[:2] = [(spans[0][0], spans[1][1])]   # a licence's kept "d." starts its sentence ("d. Sections 1,
    return spans                                    # 5, 6, 7, and 8 survive termination ...")


_MARKER = re.compile(r"[a-z]\.|[ivx]{1,4}\.|\d{1,3}\.")   # an item's kept letter or number (plaintext.py)


def code_units(block: str) -> list[tuple[int, int]]:
    """A long code block (a `--help` output, a config file) as units of whole lines: a unit ends at a blank
    line, and before a line that would take it past CODE_UNIT_WORDS unless that line is indented deeper than
    the one before it (an option's wrapped description stays with the option)."""
    lines = [(m.start(), m.start() + len(m.group().rstrip()), len(m.group()) - len(m.group().lstrip()),
              len(m.group().split())) for m in re.finditer(r"[^\n]*", block) if m.group().strip()]
    units, start, end, words, before = [], None, 0, 0, 0
    for s, e, ind, n in lines:       # e: the line's end, trailing spaces trimmed
        gap = start is not None and "\n\n" in block[end:s].replace(" ", "")
        if start is not None and (gap or (words + n > CODE_UNIT_WORDS and ind <= before)):
            units.append((start, end))
            start, words = None, 0
        if start is None:
            start = s + ind
        end, words, before = e, words + n, ind
    units.append((start, end))
    return units


def sentence_spans(text: str, start: int = 0, end: int | None = None, blocks=None) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text[start:end]: sentences never cross a block boundary (a newline).
    Offsets are into text, whitespace trimmed."""
    end = len(text) if end is None else end
    if not blocks:
        blocks = [(s + start, e + start, k) for s, e, k in blocks_of(text[start:end])]
    spans = []
    for s, e, kind in blocks:
        s, e = max(s, start), min(e, end)
        if e > s:
            spans.extend((s + a, s + b) for a, b in segment_block(text[s:e], kind))
    return spans


def sentence_text(title: str, sentence: str, short: int = 8) -> str:
    """What an answer candidate is embedded as: itself, after its document's title when it is short."""
    return sentence if len(sentence.split()) >= short or not title else f"{title}. {sentence}"


def strip_refs(span: tuple[int, int], text: str) -> tuple[int, int]:
    """Trim the source's own trailing reference markers ("...systems.[6][8]") off a sentence span."""
    s, e = span
    if not text.endswith("]", s, e):          # most sentences: no need to search
        return span
    m = re.search(r"(?:\[\d+\])+$", text[s:e])
    return (s, s + m.start()) if m and m.start() > 0 else span


def clean_sentence(quote: str) -> str:
    """Quote text as shown in an answer: one line, without the source's [n] markers."""
    return re.sub(r"\s+", " ", REF_MARKERS.sub("", quote)).strip()


@lru_cache(maxsize=1)
def stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


TOKEN = r"(?u)\d+(?:\.\d+)+|\b\w\w+\b"    # words of 2+ characters, and versions whole: "3.0.0" (bm25s's default
                                            # pattern keeps none of it, so "simplejson 3.0.0" matched any release)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


_SPLIT = re.compile(TOKEN).findall


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop words out, English-stemmed tokens (what BM25 and term coverage count): the tokens of
    bm25s.tokenize(texts, token_pattern=TOKEN, stopwords="en", stemmer=stemmer(), return_ids=False), without
    its per-call cost (progress bars, a vocabulary; ~0.5 ms a call, a third of a question's answer step)."""
    stop, stem = _stopwords(), stemmer().stemWord
    return [[stem(t) for t in _SPLIT(text.lower()) if t not in stop] for text in texts]


def source_words(source: str) -> str:
    """The words of a document's file name and folder ("tweetnacl/LICENSE" -> "tweetnacl LICENSE"): BM25 also
    indexes them with every chunk, as a person searching for "TweetNaCl's licence" finds the file named so
    though its text never names the product."""
    return " ".join(re.split(r"[-_./\\\s]+", "/".join(source.replace("\\", "/").split("/")[-2:]))).strip()


def index_text(chunk, settings=None) -> str:
    """What is embedded and BM25-indexed for a chunk: its text, after the document title unless the
    chunk already starts with it (or settings.index_title is off). The stored span stays chunk.text."""
    title = (chunk.title or "").strip()
    if not title or (settings is not None and not settings.index_title) or chunk.text.startswith(title):
        return chunk.text
    return f"{title}\n{chunk.text}"
