"""Readers: a file -> (stored text, title, date, structure). Bad files raise DocumentError."""
from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path

from .errors import DocumentError
from .types import Document

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
META_SUFFIX = ".meta.json"   # optional sidecar: {"title", "date", "origin"} for the file it names
MAX_BYTES = 50_000_000

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_PATTERNS = [
    (re.compile(rf"\b({_MONTHS}) (\d{{1,2}}), (\d{{4}})\b"), "%B %d %Y", (0, 1, 2)),
    (re.compile(rf"\b(\d{{1,2}}) ({_MONTHS}) (\d{{4}})\b"), "%d %B %Y", (0, 1, 2)),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "%Y %m %d", (0, 1, 2)),
]


def find_date(text: str) -> str | None:
    """An ISO date found in the first lines of a text, if any."""
    head = "\n".join(text.splitlines()[:6])
    for pattern, fmt, _ in _DATE_PATTERNS:
        m = pattern.search(head)
        if m:
            try:
                return datetime.strptime(" ".join(m.groups()), fmt).date().isoformat()
            except ValueError:
                continue
    return None


def line_starts(text: str, blank_line_separated: bool = False) -> list[int]:
    """Offsets where paragraphs start: non-empty lines, or blocks separated by blank lines."""
    sep = r"\n[ \t]*\n\s*" if blank_line_separated else r"\n\s*"
    starts = [0] if text[:1].strip() else []
    starts += [m.end() for m in re.finditer(sep, text) if m.end() < len(text)]
    if not starts or starts[0] != 0:
        first = len(text) - len(text.lstrip())
        starts = sorted({first, *starts})
    return starts


def _decode(data: bytes, what: str) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError(f"looks binary, not {what} text; export it as .txt/.md/.pdf/.docx")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(f"not UTF-8 ({e.reason} at byte {e.start}); re-save it as UTF-8") from None


def _read_text(data: bytes, markdown: bool) -> dict:
    text = _decode(data, "plain")
    headings = []
    if markdown:
        headings = [(m.start(), m.group(1).strip()) for m in re.finditer(r"(?m)^#{1,6}[ \t]+(.+)$", text)]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    title = headings[0][1] if headings else (lines[0] if lines and len(lines[0]) <= 200 and len(lines) > 1 else None)
    return {"text": text, "title": title, "paragraphs": line_starts(text, blank_line_separated=markdown),
            "headings": headings}


_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd",
           "figcaption", "caption"]


def _read_html(data: bytes) -> dict:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, "HTML"), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    parts, headings, pos = [], [], 0
    for el in soup.find_all(_BLOCKS):
        if el.find_parent(_BLOCKS):            # counted with its block ancestor
            continue
        block = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
        if not block:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            headings.append((pos, block))
        parts.append(block)
        pos += len(block) + 1
    if not parts:  # no block markup: fall back to all visible text, line by line
        parts = [ln.strip() for ln in soup.get_text("\n").splitlines() if ln.strip()]
    text = "\n".join(parts)
    return {"text": text, "title": title or (headings[0][1] if headings else None),
            "paragraphs": line_starts(text), "headings": headings}


def _read_pdf(data: bytes) -> dict:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted PDF; save a copy without a password and ingest that")
        pages = [(p.extract_text() or "").strip() for p in reader.pages]
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except DocumentError:
        raise
    except (PdfReadError, Exception) as e:  # pypdf raises many types on broken files
        if "encrypt" in str(e).lower() or "password" in str(e).lower():
            raise DocumentError("encrypted PDF; save a copy without a password and ingest that") from None
        raise DocumentError(f"broken PDF ({type(e).__name__}: {e}); re-export it") from None
    text, starts = "", []
    for page in pages:
        starts.append(len(text))
        text += page + "\n\n"
    text = text.rstrip("\n")
    if not text.strip():
        raise DocumentError("PDF has no extractable text (scanned?); run OCR on it first")
    return {"text": text, "title": str(meta_title) if meta_title else None,
            "paragraphs": line_starts(text, blank_line_separated=True), "pages": starts}


def _read_docx(data: bytes) -> dict:
    import docx

    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise DocumentError(f"broken or password-protected .docx ({type(e).__name__}); re-save it in Word") from None
    parts, headings, pos = [], [], 0
    for p in d.paragraphs:
        block = p.text.strip()
        if not block:
            continue
        if (p.style is not None and (p.style.name or "").lower().startswith(("heading", "title"))):
            headings.append((pos, block))
        parts.append(block)
        pos += len(block) + 1
    text = "\n".join(parts)
    title = d.core_properties.title or (headings[0][1] if headings else None)
    return {"text": text, "title": title, "paragraphs": line_starts(text), "headings": headings}


def read_sidecar(path: Path) -> dict:
    side = path.with_name(path.name + META_SUFFIX)
    if not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text("utf-8"))
        return {k: str(meta[k]) for k in ("title", "date", "origin") if meta.get(k)}
    except (ValueError, OSError) as e:
        raise DocumentError(f"bad metadata file {side.name} ({e}); fix its JSON") from None


def read_document(path: Path, source: str, doc_id: str) -> Document:
    """Read one file into a Document, or raise DocumentError saying why it was skipped."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(f"unsupported file type '{suffix or path.name}'; supported: {', '.join(SUFFIXES)}")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DocumentError(f"larger than {MAX_BYTES // 1_000_000} MB; split it")
        data = path.read_bytes()
    except OSError as e:
        raise DocumentError(f"cannot read ({e.strerror})") from None
    if not data.strip():
        raise DocumentError("empty file")
    if suffix == ".pdf":
        parsed = _read_pdf(data)
    elif suffix == ".docx":
        parsed = _read_docx(data)
    elif suffix in (".html", ".htm"):
        parsed = _read_html(data)
    else:
        parsed = _read_text(data, markdown=suffix in (".md", ".markdown"))
    if not parsed["text"].strip():
        raise DocumentError("no text in it")
    meta = read_sidecar(path)
    return Document(
        id=doc_id, source=source, text=parsed["text"], sha256=file_hash(path, data),
        title=meta.get("title") or parsed.get("title") or path.stem,
        date=meta.get("date") or find_date(parsed["text"]), origin=meta.get("origin"),
        paragraphs=parsed.get("paragraphs", []), pages=parsed.get("pages", []),
        headings=parsed.get("headings", []))


def file_hash(path: Path, data: bytes | None = None) -> str:
    """sha256 of a file and its sidecar, so editing either re-indexes it."""
    h = hashlib.sha256(path.read_bytes() if data is None else data)
    side = path.with_name(path.name + META_SUFFIX)
    if side.exists():
        h.update(side.read_bytes())
    return h.hexdigest()
