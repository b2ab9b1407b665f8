"""A cited PDF page as a PNG image, the cited span marked on it like a highlighter pen.

PDFium (pypdfium2, a pip wheel with the library inside; only this module imports it) renders the page and gives
each character's box; the span is found among the page's characters by its letters and digits alone (the stored
text has hyphenation undone, lines joined and headers dropped, so it never matches character for character).
Server-side rather than pdf.js in the browser: nothing to install from npm at run time, no script to serve, and
the image is one more response behind the same access check as the source's text."""
from __future__ import annotations

import ctypes
import io
import threading
import unicodedata
from collections import OrderedDict
from pathlib import Path

from .chunking import page_of
from .documents import file_unchanged
from .errors import NotFound
from .types import Document

WIDTH = 1000            # px of a rendered page's width: sharp in a 460 px drawer on a 2x screen
MAX_PIXELS = 2_000_000  # bound for odd page shapes (a long receipt, a poster): scaled down to fit
MARK = (253, 224, 71)   # the highlighter's colour, multiplied into the page: white turns yellow, ink stays ink
CACHED = 32             # rendered pages kept in memory (~100-300 KB each)
_lock = threading.Lock()      # PDFium is not thread-safe: one call into it at a time
_pages: OrderedDict = OrderedDict()


def original(doc: Document) -> Path:
    """The PDF file the document was read from, unchanged since; NotFound saying why not."""
    if not doc.pages or not doc.path.lower().endswith(".pdf"):
        raise NotFound(f"{doc.source} is not a .pdf file: it has no page to show")
    path = Path(doc.path)
    if not path.exists():
        raise NotFound(f"the file {doc.source} is no longer where it was ingested from; ingest it again")
    if not file_unchanged(path, doc.sha256):
        raise NotFound(f"the file {doc.source} changed since it was indexed; run `rag ingest` again so that its "
                       "page and its text agree")
    return path


def page_png(doc: Document, start: int, end: int) -> tuple[bytes, int, tuple[float, float] | None]:
    """(PNG, page number, the highlight's top and bottom as fractions of the image height, or None when the span
    was not found on the page) for the page where text[start:end] starts."""
    path = original(doc)
    page = page_of(doc, start)
    first, last = doc.pages[page - 1], doc.pages[page] if page < len(doc.pages) else len(doc.text)
    quote = doc.text[start:min(end, last)]              # a span running on: its part on this page
    before = doc.text[min(first, start):start]          # where on the page it is: picks among repeats
    key = (doc.id, doc.sha256, page, start, end)
    with _lock:
        if key not in _pages:
            png, span = _render(path, page, quote, before)
            _pages[key] = (png, page, span)
            while len(_pages) > CACHED:
                _pages.popitem(last=False)
        _pages.move_to_end(key)
        return _pages[key]


def _render(path: Path, page_no: int, quote: str, before: str) -> tuple[bytes, tuple[float, float] | None]:
    import pypdfium2 as pdfium
    from PIL import Image, ImageChops, ImageDraw

    pdf = pdfium.PdfDocument(str(path))
    try:
        if page_no > len(pdf):
            raise NotFound(f"the file {path.name} has {len(pdf)} pages, not {page_no}; ingest it again")
        page = pdf[page_no - 1]
        w, h = page.get_size()
        if w <= 0 or h <= 0:
            raise NotFound(f"page {page_no} of {path.name} has no size")
        scale = min(WIDTH / w, (MAX_PIXELS / (w * h)) ** 0.5)
        image = page.render(scale=scale).to_pil().convert("RGB")
        boxes = _boxes(page, quote, before, image.size)
    finally:
        pdf.close()
    if boxes:
        marks = Image.new("RGB", image.size, "white")
        draw = ImageDraw.Draw(marks)
        for box in boxes:
            draw.rounded_rectangle(box, radius=3, fill=MARK)
        image = ImageChops.multiply(image, marks)
    buf = io.BytesIO()
    image.save(buf, "PNG")   # optimize=True: 6x the time for 2% less
    span = (min(b[1] for b in boxes) / image.height, max(b[3] for b in boxes) / image.height) if boxes else None
    return buf.getvalue(), span


def _letters(text: str) -> tuple[str, list[int]]:
    """Letters and digits only, case-folded and compatibility-normalised (ligatures split), with, for each,
    the index of the character it came from."""
    out, where = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def _find(hay: str, needle: str, near: int) -> int:
    """The occurrence of `needle` in `hay` nearest to position `near`, or -1."""
    best, at = -1, hay.find(needle) if needle else -1
    while at >= 0:
        best = at if best < 0 or abs(at - near) < abs(best - near) else best
        at = hay.find(needle, at + 1)
    return best


def _boxes(page, quote: str, before: str, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Image rectangles (one per line) over the page's characters that spell the quote, the occurrence nearest
    to where the text before it on the page ends; [] if not found."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        chars = [chr(raw.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(textpage.count_chars())]
        hay, where = _letters("".join(chars))
        needle, near = _letters(quote)[0], len(_letters(before)[0])
        at = _find(hay, needle, near)
        if at < 0 and len(needle) > 80:                 # not letter for letter: its first and last words
            head = _find(hay, needle[:40], near)
            tail = hay.find(needle[-40:], head)
            at, needle = (head, hay[head:tail + 40]) if 0 <= head < tail else (-1, needle)
        if at < 0:
            return []
        rects = []
        for i in sorted(set(where[at:at + len(needle)])):
            left, bottom, right, top = textpage.get_charbox(i)
            x0, y0 = _device(page, size, left, top)
            x1, y1 = _device(page, size, right, bottom)
            rects.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    finally:
        textpage.close()
    lines: list[list[int]] = []
    for x0, y0, x1, y1 in rects:                      # characters on one line join into one rectangle
        cur = lines[-1] if lines else None
        if cur and y0 < cur[3] and y1 > cur[1] and x0 >= cur[0] - 2:
            cur[:] = [min(cur[0], x0), min(cur[1], y0), max(cur[2], x1), max(cur[3], y1)]
        else:
            lines.append([x0, y0, x1, y1])
    pad = max(2, size[0] // 250)
    return [(x0 - pad, y0 - pad, x1 + pad, y1 + pad) for x0, y0, x1, y1 in lines]


def _device(page, size, x: float, y: float) -> tuple[int, int]:
    """Page coordinates (points, origin bottom left, before /Rotate) -> image pixels."""
    import pypdfium2.raw as raw

    dx, dy = ctypes.c_int(), ctypes.c_int()
    raw.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    return dx.value, dy.value
