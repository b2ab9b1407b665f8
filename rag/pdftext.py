"""PDF text as a reader sees it: pypdf's lines joined into paragraphs (hyphenation undone), running headers,
footers and page numbers dropped, headings and items found by their layout, code found by its font."""
from __future__ import annotations

import re
from collections import Counter

from .markup import TextBuilder
from .plaintext import release_heading, soft_break

_PAGE_NO = re.compile(r"^(?:page\s*)?[-–—]?\s*(?:\d+|[ivxlc]+)\s*[-–—]?(?:\s*(?:of|/)\s*\d+)?$", re.I)
_PDF_ITEM = re.compile(r"^(?:[-–•●◦▪■‣*\uf0a7\uf0b7\uf0d8\uf076]|\(?(?:\d{1,3}|[a-z])[.)])\s+(?=\S)")
_PDF_TITLE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?\s+)?[A-Z0-9][^.,;:!?]*$")
_HYPHEN_BREAK = re.compile(r"(\w+)[-\u00ad\u2010]$")
_END_PUNCT = re.compile(r"""[.!?:]["'”’)\]]*$""")
_URL_LINE = re.compile(r"^(?:[-–•●◦▪■‣*]\s+)?(?:https?://|www\.)\S+$")            # a line holding only a URL
_URL_BREAK = re.compile(r"(?:^|\s)(?:https?://\S*[/?&=#]|/\S*[?&=])$")            # a URL cut after / ? & = #


class CodeLine(str):
    """A PDF line set wholly in a fixed-pitch font: code, kept as laid out (indentation too)."""


_MONO_NAME = re.compile(r"mono|courier|consol|menlo|typewriter|cmtt", re.I)
_FIXED_PITCH = 1                              # bit 1 of a font descriptor's /Flags


def _fixed_pitch(font) -> bool:
    try:
        desc = font.get("/FontDescriptor")
        if desc is None and "/DescendantFonts" in font:
            desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
        flags = int(desc.get_object().get("/Flags", 0)) if desc is not None else 0
    except Exception:                         # a broken font dict says nothing
        flags = 0
    return bool(flags & _FIXED_PITCH) or bool(_MONO_NAME.search(str(font.get("/BaseFont", ""))))


def page_lines(page) -> list[str]:
    """A pypdf page's text lines, whitespace collapsed; a line in a fixed-pitch font is a CodeLine, kept as
    laid out, when it stands in a run of such lines or after a line that ends a sentence (a lone one that
    continues a sentence is inline code that wrapped: "... instead of" / "ConnectionError")."""
    pieces, fixed = [], {}

    def visit(text, cm, tm, font, size) -> None:
        if font is not None and id(font) not in fixed:
            fixed[id(font)] = _fixed_pitch(font)
        pieces.append(("1" if font is not None and fixed[id(font)] else "0") * len(text))

    text = page.extract_text(visitor_text=visit) or ""
    flags = "".join(pieces)
    lines, mono, pos = [], [], 0
    for ln in text.splitlines(keepends=True):
        body = ln.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        marks = [f for c, f in zip(body, flags[pos:pos + len(body)]) if not c.isspace()]
        lines.append(body)
        mono.append(len(flags) == len(text) and bool(marks) and all(f == "1" for f in marks))
        pos += len(ln)
    for i, ln in enumerate(lines):
        if not mono[i]:
            continue
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        run = (i > 0 and mono[i - 1]) or (i + 1 < len(lines) and mono[i + 1])
        if run or not prev or _END_PUNCT.search(prev):
            lines[i] = CodeLine(ln.expandtabs(4).rstrip())
    return [ln if isinstance(ln, CodeLine) else " ".join(ln.split()) for ln in lines]


def drop_page_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Without running headers and footers (the same line, digits aside, at the top or bottom of at least
    half the pages of a 3+ page file) and bare page numbers ("3", "Page 3 of 10", "- 3 -")."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line).lower()

    for _ in range(2):                        # peel up to two lines off each edge of the pages
        for i in (0, -1):
            edges = [[j for j, ln in enumerate(page) if ln][i:][:1] for page in pages]
            seen = Counter(key(page[j[0]]) for page, j in zip(pages, edges) if j)
            common = {k for k, c in seen.items() if 2 * c >= len(pages) >= 3}
            for page, j in zip(pages, edges):
                if j and key(page[j[0]]) in common:
                    del page[j[0]]
    for page in pages:
        for i in (0, -1):
            filled = [j for j, ln in enumerate(page) if ln]
            if filled and _PAGE_NO.match(page[filled[i]]):
                del page[filled[i]]
    return pages


def pdf_blocks(pages: list[list[str]]) -> dict:
    """PDF lines joined into blocks: wrapped lines become one, end-of-line hyphenation is undone, and a
    paragraph may run on into the next page (which then starts inside it)."""
    lengths = sorted(len(ln) for page in pages for ln in page if ln and not isinstance(ln, CodeLine)) or [80]
    width = lengths[int(0.9 * (len(lengths) - 1))]   # of the prose lines
    joined = "\n".join(ln for page in pages for ln in page)
    words = set(re.findall(r"(?<![\w-])[a-z]+(?![\w-])", re.sub(r"\w+[-\u00ad\u2010]\n\w+", " ", joined.lower())))
    compounds = set(re.findall(r"\w+-\w+", joined.lower()))
    out, cur, kind, marks, waiting = TextBuilder(), "", "text", [], 0
    prev = ""
    for page in pages:
        waiting += 1                          # a page starts where its first line goes
        for ln in page:
            if not ln:                        # a blank line ends the paragraph
                prev = "." if cur else prev
                continue
            if isinstance(ln, CodeLine):      # code: its own block, one line of it per line
                if kind != "code":
                    _flush(out, cur, kind, marks)
                    cur, marks, kind = "", [], "code"
                elif cur:
                    cur += "\n"
                marks += [len(cur)] * waiting
                waiting, cur, prev = 0, cur + ln, "."
                continue
            item = _PDF_ITEM.match(ln)
            title = (not prev or _ends_block(prev, width)) and _pdf_heading(ln, width)
            m = _HYPHEN_BREAK.search(cur[-60:])
            url = bool(_URL_BREAK.search(cur[-300:])) and ln[:1].isalnum()
            after_url = bool(_URL_LINE.match(prev)) and not ln[:1].islower()      # a bare URL ends its line
            if (cur and kind != "code" and not item and not title and not after_url
                    and (soft_break(prev, ln, width) or m and ln[:1].isalnum() or url)):
                split_word = bool(m) and (cur.endswith("\u00ad")
                                          or not _real_hyphen(m.group(1), ln, words, compounds))
                if m and ln[:1].isalpha() and split_word:
                    cur = cur[:-1]
                elif not m and not url:
                    cur += " "
            else:
                _flush(out, cur, kind, marks)
                cur, marks = "", []
                kind = "heading" if title else "item" if item else "text"
                ln = ln[item.end():] if item and not title else ln
            marks += [len(cur)] * waiting
            waiting = 0
            cur += ln
            prev = ln if not title else ln + "."
    _flush(out, cur, kind, marks)
    out.pages += [out.size] * waiting
    return out.result(pages=out.pages)


def _flush(out: TextBuilder, block: str, kind: str, page_marks: list[int]) -> None:
    if not block:
        return
    if kind == "code":                        # dedented here, so that a page mark (a line start) stays exact
        lines = block.split("\n")
        cut = min(len(ln) - len(ln.lstrip()) for ln in lines)
        page_marks = [r - cut * block.count("\n", 0, r) for r in page_marks]
        block = "\n".join(ln[cut:] for ln in lines)
    start = out.add(block, kind)
    out.pages += [start + r for r in page_marks]


def _ends_block(line: str, width: int) -> bool:
    return bool(_END_PUNCT.search(line) or _URL_LINE.match(line)) or len(line) < 0.5 * width


def _pdf_heading(line: str, width: int) -> bool:
    """A short title-like line: numbered ("3.1 Scope"), a changelog's release ("2.33.1 (2026-03-30)"), or most
    of its words capitalised."""
    if len(line) > min(80, 0.7 * width):
        return False
    if release_heading(line):
        return True
    if not _PDF_TITLE.match(line):
        return False
    words = [w for w in line.split() if w[:1].isalpha() and len(w) > 3]
    numbered = bool(re.match(r"\d{1,2}(?:\.\d{1,2})*\.?\s+[A-Z]", line))
    return numbered or line.isupper() or (bool(words) and sum(w[0].isupper() for w in words) >= 0.6 * len(words))


def _real_hyphen(head: str, line: str, words: set[str], compounds: set[str]) -> bool:
    """Is "head-" + the next line's first word a hyphenated compound ("built-in"), not a word split in two?"""
    tail = re.match(r"\w*", line).group().lower()
    head = head.lower()
    if head + tail in words:
        return False
    return f"{head}-{tail}" in compounds or not line[:1].islower() or head in _HEADS or tail in _TAILS


_HEADS = {"all", "anti", "built", "co", "cross", "ex", "half", "multi", "non", "self", "semi", "well"}
_TAILS = {"based", "free", "in", "known", "level", "like", "made", "off", "on", "out", "related", "scale",
          "specific", "term", "time", "up", "wide"}
