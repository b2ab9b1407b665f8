"""Readers: a file -> (stored text, title, date, structure). Bad files raise DocumentError."""
from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
from datetime import datetime
from itertools import islice
from pathlib import Path

from .errors import DocumentError
from .markup import TextBuilder
from .text import MONTHS
from .types import Document

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".rst", ".text")
# plain text too, as documentation ships it: no suffix ("copyright", "GPL-3"), a version as suffix
# ("Apache-2.0"), or a documentation name with any suffix ("README.Debian", "NEWS.source"); and any
# supported file compressed as .gz ("changelog.Debian.gz")
DOC_NAME = re.compile(r"(?i)(readme|news|changes|changelog|history|copying|copyright|licen[cs]e|authors|"
                      r"contributors|credits|thanks|todo|install|faq|bugs|notice|upgrading|security|"
                      r"contributing)([._-].*)?$")
META_SUFFIX = ".meta.json"   # optional sidecar: {"title", "date", "origin"} for the file it names
MAX_BYTES = 50_000_000
# limits against decompression and element bombs, checked while reading: a file over one is skipped
MAX_UNPACKED_BYTES = 100_000_000   # everything a .docx (a zip) unpacks to
MAX_XML_ELEMENTS = 1_000_000       # XML elements in a .docx (paragraphs, runs, cells, properties, ...)
MAX_HTML_TAGS = 300_000            # tags in an .html page
MAX_PDF_PAGES = 5_000
MAX_TEXT_CHARS = 20_000_000        # text extracted from a .pdf

_DATE_PATTERNS = [
    (re.compile(rf"\b({MONTHS}) (\d{{1,2}}), (\d{{4}})\b"), "%B %d %Y", (0, 1, 2)),
    (re.compile(rf"\b(\d{{1,2}}) ({MONTHS}) (\d{{4}})\b"), "%d %B %Y", (0, 1, 2)),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "%Y %m %d", (0, 1, 2)),
    (re.compile(r"\b(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4})\b"), "%d %b %Y", (0, 1, 2)),
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


def _decode(data: bytes, what: str, declared: str | None = None) -> str:
    """Text of a file: UTF-8 with a BOM, else the declared charset (unless the bytes are valid UTF-8 beyond
    ASCII: a wrong label), else UTF-8, else charset_normalizer's confident guess."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise DocumentError(f"looks binary, not {what} text; export it as .txt/.md/.pdf/.docx")
    try:
        utf8, error = data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        utf8, error = None, e
    if declared and (utf8 is None or utf8.isascii()):      # valid non-ASCII UTF-8 outranks a wrong label
        try:
            name = codecs.lookup(declared).name
            if name in ("latin-1", "iso8859-1", "ascii"):    # as browsers do: these labels mean windows-1252
                try:
                    return data.decode("cp1252")
                except UnicodeDecodeError:
                    return data.decode("latin-1")
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    if utf8 is not None:
        return utf8
    guessed = _guess_encoding(data)
    if guessed is None:
        raise DocumentError(f"not UTF-8 ({error.reason} at byte {error.start}); re-save it as UTF-8") from None
    return guessed


def _guess_encoding(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None or best.chaos > 0.2:
        return None
    for m in matches:     # ties are common on short texts: prefer the Western code page when it reads as well
        if m.chaos <= best.chaos and {"cp1252", "latin_1"} & set(m.could_be_from_charset):
            best = m
            break
    text = str(best)
    return None if re.search(r"[\x00-\x08\x0e-\x1f\x7f]", text) else text


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]+encoding=["']([\w.:-]+)""", re.I)


_LINE_END = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")   # where str.splitlines() cuts


def _lines(text: str):
    """text.splitlines(), one line at a time: a title needs the first few lines of a file of 50 MB."""
    pos = 0
    for m in _LINE_END.finditer(text):
        yield text[pos:m.start()]
        pos = m.end()
    if pos < len(text):
        yield text[pos:]


def _read_text(data: bytes, markdown: bool) -> dict:
    from .markup import render_markdown
    from .plaintext import release_heading, render_plain

    text = _decode(data, "plain")
    parsed = render_markdown(text) if markdown else render_plain(text)
    # the first lines as rendered (no ".. include::"); the first as written when the next was reflowed into
    # it ("Apache License" / "Version 2.0, January 2004")
    lines = list(islice((ln.strip() for ln in _lines(parsed["text"]) if ln.strip()), 2))
    if lines and len(lines[0]) <= 200:
        lines[0] = next((ln for ln in islice((r.strip() for r in _lines(text)), 50) if ln and
                         lines[0].startswith(ln)), lines[0])
    title = (parsed["headings"][0][1] if markdown and parsed["headings"] else
             lines[0] if not markdown and lines and len(lines[0]) <= 200 and len(lines) > 1 else None)
    parsed["title"] = None if title and release_heading(title) else title   # a changelog's newest release
    return parsed                                                            # titles only its own section


def _read_html(data: bytes) -> dict:
    from .markup import render_html

    if data.count(b"<") > MAX_HTML_TAGS:
        raise DocumentError(f"more than {MAX_HTML_TAGS:,} HTML tags (limit MAX_HTML_TAGS); split the page")

    m = _META_CHARSET.search(data[:4096])
    declared = (m.group(1) or m.group(2)).decode("ascii") if m else None
    return render_html(_decode(data, "HTML", declared))


def _read_pdf(data: bytes) -> dict:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from .pdftext import drop_page_furniture, page_lines, pdf_blocks

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted PDF; save a copy without a password and ingest that")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentError(f"more than {MAX_PDF_PAGES:,} pages (limit MAX_PDF_PAGES); split the PDF")
        pages, size = [], 0
        for p in reader.pages:
            pages.append(page_lines(p))
            size += sum(map(len, pages[-1]))
            if size > MAX_TEXT_CHARS:
                raise DocumentError(f"more than {MAX_TEXT_CHARS // 1_000_000}M characters of text "
                                    "(limit MAX_TEXT_CHARS); split the PDF")
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except DocumentError:
        raise
    except (PdfReadError, Exception) as e:  # pypdf raises many types on broken files
        if "encrypt" in str(e).lower() or "password" in str(e).lower():
            raise DocumentError("encrypted PDF; save a copy without a password and ingest that") from None
        raise DocumentError(f"broken PDF ({type(e).__name__}: {e}); re-export it") from None
    pages = drop_page_furniture(pages)
    if not any(any(page) for page in pages):
        raise DocumentError("PDF has no extractable text (scanned?); run OCR on it first")
    return {**pdf_blocks(pages), "title": str(meta_title) if meta_title else None}


def _check_zip(data: bytes) -> None:
    """Unpack every part of a .docx as a stream, counting bytes and XML elements, and stop at the first
    limit crossed: a zip bomb costs a bounded read whatever sizes its headers declare."""
    import zipfile

    try:
        parts = zipfile.ZipFile(io.BytesIO(data))
        unpacked = elements = 0
        for info in parts.infolist():
            with parts.open(info) as f:
                while piece := f.read(1 << 20):
                    unpacked += len(piece)
                    elements += piece.count(b"<") - piece.count(b"</")
                    if unpacked > MAX_UNPACKED_BYTES:
                        raise DocumentError(f"unpacks to more than {MAX_UNPACKED_BYTES // 1_000_000} MB (a zip bomb? "
                                            "limit MAX_UNPACKED_BYTES); re-save it in Word or split it")
                    if elements > MAX_XML_ELEMENTS:
                        raise DocumentError(f"more than {MAX_XML_ELEMENTS:,} XML elements (a zip bomb? limit "
                                            "MAX_XML_ELEMENTS); re-save it in Word or split it")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
        raise DocumentError(f"broken .docx ({type(e).__name__}); re-save it in Word") from None


def _read_docx(data: bytes) -> dict:
    import docx
    from docx.table import Table

    _check_zip(data)
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise DocumentError(f"broken or password-protected .docx ({type(e).__name__}); re-save it in Word") from None
    out = TextBuilder()
    for part in d.iter_inner_content():       # paragraphs and tables in document order
        if isinstance(part, Table):
            for row in part.rows:
                cells, seen = [], set()
                for cell in row.cells:        # a merged cell is listed once per grid column it spans
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        cells.append(" ".join(cell.text.split()))
                if any(cells):
                    out.add(" | ".join(cells), "row")
            continue
        style = (part.style.name or "").lower() if part.style is not None else ""
        numbered = part._p.pPr is not None and part._p.pPr.numPr is not None
        out.add(part.text, "heading" if style.startswith(("heading", "title")) else
                "item" if style.startswith("list") or numbered else "text")
    parsed = out.result()
    parsed["title"] = d.core_properties.title or (parsed["headings"][0][1] if parsed["headings"] else None)
    return parsed


def read_sidecar(path: Path) -> dict:
    side = path.with_name(path.name + META_SUFFIX)
    if not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text("utf-8"))
        return {k: str(meta[k]) for k in ("title", "date", "origin") if meta.get(k)}
    except (ValueError, OSError) as e:
        raise DocumentError(f"bad metadata file {side.name} ({e}); fix its JSON") from None


def reader_of(name: str) -> str | None:
    """The reader a file name asks for: .pdf, .docx, .html, .md or .txt (plain text); None if unsupported."""
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        return {".htm": ".html", ".markdown": ".md", ".rst": ".txt", ".text": ".txt"}.get(suffix, suffix)
    if not suffix or re.fullmatch(r"\.\d+", suffix) or DOC_NAME.match(name):
        return ".txt"
    return None


def _gunzip(data: bytes) -> bytes:
    import gzip
    import zlib
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DocumentError(f"broken .gz file ({e}); re-compress it or unpack it") from None
    if len(out) > MAX_BYTES:
        raise DocumentError(f"unpacks to more than {MAX_BYTES // 1_000_000} MB; split it")
    return out


def read_document(path: Path, source: str, doc_id: str) -> Document:
    """Read one file into a Document, or raise DocumentError saying why it was skipped."""
    packed = path.suffix.lower() == ".gz"
    name = path.name[:-3] if packed else path.name
    kind = reader_of(name)
    if kind is None:
        raise DocumentError(f"unsupported file type '{Path(name).suffix}'; supported: {', '.join(SUFFIXES)}, "
                            "plain text (README.*, no suffix) and .gz of these")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DocumentError(f"larger than {MAX_BYTES // 1_000_000} MB; split it")
        raw = path.read_bytes()
    except OSError as e:
        raise DocumentError(f"cannot read ({e.strerror})") from None
    data = _gunzip(raw) if packed else raw
    if not data.strip():
        raise DocumentError("empty file")
    try:
        if kind == ".pdf":
            parsed = _read_pdf(data)
        elif kind == ".docx":
            parsed = _read_docx(data)
        elif kind == ".html":
            parsed = _read_html(data)
        else:
            parsed = _read_text(data, markdown=kind == ".md")
    except RecursionError:
        raise DocumentError("nested too deeply to read (thousands of levels); re-export it flatter") from None
    if not parsed["text"].strip():
        raise DocumentError("no text in it")
    meta = read_sidecar(path)
    return Document(
        id=doc_id, source=source, text=parsed["text"], sha256=file_hash(path, raw),
        title=meta.get("title") or parsed.get("title") or Path(name).stem,
        date=meta.get("date") or find_date(parsed["text"]), origin=meta.get("origin"),
        paragraphs=parsed.get("paragraphs", []), pages=parsed.get("pages", []),
        headings=parsed.get("headings", []), blocks=parsed.get("blocks", []))


def file_hash(path: Path, data: bytes | None = None) -> str:
    """sha256 of a file and its sidecar, so editing either re-indexes it."""
    h = hashlib.sha256(path.read_bytes() if data is None else data)
    side = path.with_name(path.name + META_SUFFIX)
    if side.exists():
        h.update(side.read_bytes())
    return h.hexdigest()


_hashes: dict = {}   # (path, size, mtime, sidecar's mtime) -> file_hash: a file is hashed again only when it changes


def file_unchanged(path: Path, sha256: str | None) -> bool:
    """Is the file at `path` still the one indexed with file_hash `sha256` (its sidecar included)? False if it
    cannot be read. Hashed again only when the file's size or time, or its sidecar's time, changes."""
    try:
        st, side = path.stat(), path.with_name(path.name + META_SUFFIX)
        key = (str(path), st.st_size, st.st_mtime_ns, side.stat().st_mtime_ns if side.exists() else None)
        if key not in _hashes:
            if len(_hashes) > 256:
                _hashes.clear()
            _hashes[key] = file_hash(path)
    except OSError:
        return False
    return _hashes[key] == sha256
