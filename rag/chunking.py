"""Sentences and token-aware chunks with exact character spans, and human locators."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from .settings import tiktoken_offline
from .types import Chunk, Document

# A sentence ends at . ! ? (plus closing quotes/brackets and reference markers like [6][8]) followed by
# whitespace, or at a line break. Abbreviations and initials do not end sentences.
_END = re.compile(r"""[.!?]+["'”’)\]]*(?:\[\d+\])*(?=\s)|\n""")
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co", "jr",
           "sr", "fig", "al", "approx", "dept", "gov", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun",
           "jul", "aug", "sep", "sept", "oct", "nov", "dec", "p", "pp"}
_REF_MARKERS = re.compile(r"(?:\[\d+\])+")


@lru_cache(maxsize=1)
def encoder():
    tiktoken_offline()
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(encoder().encode(text, disallowed_special=()))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text[start:end], whitespace trimmed, offsets into text."""
    end = len(text) if end is None else end
    spans, s = [], start
    for m in _END.finditer(text, start, end):
        if m.group() != "\n":
            word = re.search(r"([\w.]+)[.!?]+$", text[max(s, m.start() - 12):m.start() + 1])
            if word and (word.group(1).lower().rstrip(".") in _ABBREV or re.fullmatch(r"[A-Z]", word.group(1))):
                continue
        _add_span(text, s, m.end(), spans)
        s = m.end()
    _add_span(text, s, end, spans)
    return spans


def _add_span(text: str, s: int, e: int, spans: list) -> None:
    seg = text[s:e]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    if seg.strip():
        spans.append((s + lead, e - trail))


def strip_refs(span: tuple[int, int], text: str) -> tuple[int, int]:
    """Trim the source's own trailing reference markers ("...systems.[6][8]") off a sentence span."""
    s, e = span
    m = re.search(r"(?:\[\d+\])+$", text[s:e])
    return (s, s + m.start()) if m and m.start() > 0 else span


def clean_sentence(quote: str) -> str:
    """Quote text as shown in an answer: one line, without the source's [n] markers."""
    return re.sub(r"\s+", " ", _REF_MARKERS.sub("", quote)).strip()


def locate(doc: Document, offset: int) -> str:
    """Human locator of an offset: page, heading and paragraph where known."""
    parts = []
    if doc.pages:
        parts.append(f"page {_index(doc.pages, offset)}")
    heading = next((h for pos, h in reversed(doc.headings) if pos <= offset), None)
    if heading:
        parts.append(f"section “{heading[:60]}”")
    if doc.paragraphs:
        parts.append(f"paragraph {_index(doc.paragraphs, offset)}")
    return ", ".join(parts) or "text"


def _index(starts: list[int], offset: int) -> int:
    n = 0
    for i, s in enumerate(starts):
        if s <= offset:
            n = i + 1
        else:
            break
    return max(n, 1)


def chunk_document(doc: Document, max_tokens: int = 256, overlap: int = 40) -> list[Chunk]:
    """Pack whole sentences into chunks of about max_tokens; neighbours share up to `overlap` tokens."""
    units = []  # (start, end, tokens); sentences longer than max_tokens are split at word boundaries
    for s, e in sentence_spans(doc.text):
        n = count_tokens(doc.text[s:e])
        if n <= max_tokens:
            units.append((s, e, n))
        else:
            units.extend(_split_long(doc.text, s, e, max_tokens))
    chunks, i = [], 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= max_tokens):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(id=f"{doc.id}:{len(chunks)}", doc_id=doc.id, source=doc.source, title=doc.title,
                            date=doc.date, start=start, end=end, text=doc.text[start:end],
                            locator=locate(doc, start)))
        if j >= len(units):
            break
        back, k = 0, j               # step back over whole sentences worth at most `overlap` tokens
        while k - 1 > i and back + units[k - 1][2] <= overlap:
            k -= 1
            back += units[k][2]
        i = k
    return chunks


def _split_long(text: str, s: int, e: int, max_tokens: int) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence at word boundaries (word token counts summed: linear, close enough)."""
    out, piece_start, piece_end, total = [], None, s, 0
    for m in re.finditer(r"\S+", text[s:e]):
        n = count_tokens(" " + m.group())
        if piece_start is not None and total + n > max_tokens:
            out.append((piece_start, piece_end, total))
            piece_start, total = None, 0
        if piece_start is None:
            piece_start = s + m.start()
        piece_end, total = s + m.end(), total + n
    if piece_start is not None:
        out.append((piece_start, piece_end, total))
    return out


def doc_id_for(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
