"""Token-aware chunks of whole sentences with exact character spans, their answer candidates, and
human locators."""
from __future__ import annotations

import bisect
import hashlib
import re
from functools import lru_cache

from .plaintext import release_heading
from .settings import tiktoken_offline
from .text import MONTHS, blocks_of, segment_block, strip_refs
from .types import Chunk, Document

MIN_WORDS = 2           # shorter units are never answer candidates
MAX_UNIT_CHARS = 20_000  # a longer block is segmented in windows of at most this size (no unit is longer)
MAX_WORD_CHARS = 50     # longer "words" (no spaces: base64, URLs, CJK) are cut for counting and splitting
_DATELINE = re.compile(rf"^(\w+day,? )?(({MONTHS})\.? \d{{1,2}},? \d{{4}}|\d{{1,2}} ({MONTHS}) \d{{4}}|\d{{4}}-\d\d-\d\d)"
                       rf"\b|^(?:by (?-i:[A-Z])|(?:updated|published|posted)(?: on)?:? +(?=\d|(?-i:{MONTHS})))", re.I)
                       # a byline or "Updated 3 March 2025"; not TweetNaCl's "Updated documentation and typings."


@lru_cache(maxsize=1)
def encoder():
    tiktoken_offline()
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(encoder().encode_ordinary(text))     # special tokens ("<|endoftext|>") count as plain text


def locator(doc: Document):
    """offset -> human locator (page and section heading where known, else the paragraph); the headings
    are indexed once per document, so locating every chunk stays linear."""
    title = (doc.title or "").strip().lower()
    headings = [(pos, h) for pos, h in doc.headings if h.strip().lower() != title]   # the title names no section
    starts = [pos for pos, _ in headings]
    names = [h[:60].strip() for _, h in headings]
    release = ""
    for i, (_, h) in enumerate(headings):    # a changelog's "Bugfixes" is named with its release: "2.33.1 › Bugfixes"
        if release_heading(h):
            release = names[i]
        elif release:
            names[i] = f"{release} › {names[i]}"

    def locate_offset(offset: int) -> str:
        parts = []
        if doc.pages:
            parts.append(f"page {page_of(doc, offset)}")
        k = bisect.bisect_right(starts, offset)
        if k:
            parts.append(f"section “{names[k - 1]}”")
        if not parts and doc.paragraphs:
            parts.append(f"paragraph {max(bisect.bisect_right(doc.paragraphs, offset), 1)}")
        return ", ".join(parts) or "text"
    return locate_offset


def page_of(doc: Document, offset: int) -> int:
    """The 1-based page of a stored-text offset (of a document with pages)."""
    return max(bisect.bisect_right(doc.pages, offset), 1)


def locate(doc: Document, offset: int) -> str:
    """Human locator of one offset (see locator)."""
    return locator(doc)(offset)


def units(doc: Document) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every sentence of the document in order; kind is its block's kind, "title"
    for a block that repeats the document title, "dateline" for a short date/byline block."""
    title = (doc.title or "").strip().lower()
    out = []
    for s, e, kind in blocks_of(doc.text, doc.blocks):
        block = doc.text[s:e]
        if kind != "heading" and title and block.strip().lower() == title:
            kind = "title"
        elif kind == "text" and _DATELINE.match(block) and len(block.split()) <= 8:
            kind = "dateline"
        for ws, we in windows(block):
            out.extend((s + ws + a, s + ws + b, kind) for a, b in segment_block(block[ws:we], kind))
    return out


def windows(block: str, size: int = MAX_UNIT_CHARS) -> list[tuple[int, int]]:
    """A block cut into stretches of at most `size` characters, each at its last sentence end (". "), else
    its last space, else hard, so that segmenting and counting stay linear on megabytes without a sentence end."""
    out, s = [], 0
    while len(block) - s > size:
        cut = block.rfind(". ", s + size // 2, s + size - 1) + 1 or block.rfind(" ", s + size // 2, s + size)
        cut = cut if cut > s else s + size
        out.append((s, cut))
        s = cut
    out.append((s, len(block)))
    return out


def is_candidate(text: str, kind: str) -> bool:
    """Can this sentence be (part of) an answer? Never a heading or title; code counts from one word."""
    if kind in ("heading", "title"):
        return False
    return len(text.split()) >= (1 if kind == "code" else MIN_WORDS)


def chunk_document(doc: Document, max_tokens: int = 256, overlap: int = 40, gen: str = "") -> list[Chunk]:
    """Pack whole sentences into chunks of about max_tokens; neighbours share up to `overlap` tokens.
    Chunk ids are "<doc id>:<gen>:<n>" (the store's write generation), or "<doc id>:<n>" without one."""
    locate_offset, prefix = locator(doc), f"{doc.id}:{gen}:" if gen else f"{doc.id}:"
    encode = encoder().encode_ordinary      # count_tokens without its per-call lookups: once per sentence
    parts = []  # (start, end, tokens, kind); sentences longer than max_tokens are split at word boundaries
    for s, e, kind in units(doc):
        n = len(encode(doc.text[s:e]))
        if n <= max_tokens:
            parts.append((s, e, n, kind))
        else:
            parts.extend((a, b, m, kind) for a, b, m in _split_long(doc.text, s, e, max_tokens))
    chunks, i = [], 0
    while i < len(parts):
        j, total = i, 0
        while j < len(parts) and (j == i or total + parts[j][2] <= max_tokens):
            total += parts[j][2]
            j += 1
        start, end = parts[i][0], parts[j - 1][1]
        sents = [(*strip_refs((s, e), doc.text), kind) for s, e, _, kind in parts[i:j]]
        chunks.append(Chunk(id=f"{prefix}{len(chunks)}", doc_id=doc.id, source=doc.source, title=doc.title,
                            date=doc.date, start=start, end=end, text=doc.text[start:end],
                            locator=locate_offset(start), sentences=sents))
        if j >= len(parts):
            break
        back, k = 0, j               # step back over whole sentences worth at most `overlap` tokens
        while k - 1 > i and back + parts[k - 1][2] <= overlap:
            k -= 1
            back += parts[k][2]
        i = k
    return chunks


def _split_long(text: str, s: int, e: int, max_tokens: int) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence at word boundaries (word token counts summed: linear, close enough); a word
    longer than MAX_WORD_CHARS counts, and may be cut, in pieces of that many characters."""
    out, piece_start, piece_end, total = [], None, s, 0
    for m in re.finditer(rf"[^\s]{{1,{MAX_WORD_CHARS}}}", text[s:e]):
        n = _word_tokens(m.group())
        if piece_start is not None and total + n > max_tokens:
            out.append((piece_start, piece_end, total))
            piece_start, total = None, 0
        if piece_start is None:
            piece_start = s + m.start()
        piece_end, total = s + m.end(), total + n
    if piece_start is not None:
        out.append((piece_start, piece_end, total))
    return out


@lru_cache(maxsize=100_000)
def _word_tokens(word: str) -> int:
    """Tokens of one word after a space, cached: the words of an over-long sentence repeat."""
    return count_tokens(" " + word)


def doc_id_for(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
