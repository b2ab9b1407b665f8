"""Fuzz (hypothesis) of the readers and the chunker: any input either reads or is skipped with a
DocumentError, and every block, chunk and sentence span is exact. Deterministic (derandomized), ~30 s."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from rag.chunking import chunk_document, units
from rag.documents import read_document
from rag.errors import DocumentError

from conftest import make_pdf

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# characters that steer the readers: sentence ends, list/heading/table/rule markers, odd whitespace, quotes
PIECES = list("aAbZ09 .!?,;:-=~*#|+>()[]`'\"_\n\n\t") + ["\r\n", "\f", "\u00ad", "“", "”", "’", "é", "中", "😀",
                                                          "e.g.", "Dr.", " 1. ", "\n- ", "\n# ", "\n    ", "---",
                                                          "[1]", "http://x.y/z", "\u2028", "\x00", "\ufeff"]
text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=300).map("".join)
TAGS = ["p", "div", "h1", "h2", "li", "ul", "ol", "pre", "table", "tr", "td", "th", "br", "main", "article",
        "nav", "header", "footer", "script", "span", "b", "a", "code", "title"]


def html_of(parts: list[tuple[str, str]]) -> str:
    return "<html><body>" + "".join(f"<{t}>{s}" + ("" if i % 3 else f"</{t}>") for i, (t, s) in
                                    enumerate(parts)) + "</body></html>"


def check(path: Path, name: str, max_tokens: int, overlap: int) -> None:
    try:
        doc = read_document(path, name, "fuzz")
    except DocumentError as e:
        assert str(e) and "\n" not in str(e)
        return
    t = doc.text
    assert t.strip()
    last = 0
    for s, e, kind in doc.blocks:
        assert last <= s < e <= len(t) and t[s:e].strip() == t[s:e], (s, e, kind)
        last = e
    spans = [(s, e) for s, e, _ in units(doc)]
    chunks = chunk_document(doc, max_tokens, overlap)
    assert chunks or not spans
    covered = set()
    for c in chunks:
        assert 0 <= c.start < c.end <= len(t) and t[c.start:c.end] == c.text
        for s, e, _ in c.sentences:
            assert c.start <= s < e <= c.end
        covered.update(range(c.start, c.end))
    assert all(s in covered and e - 1 in covered for s, e in spans)


@settings(FUZZ, max_examples=200)
@given(body=text, suffix=st.sampled_from([".txt", ".md"]), max_tokens=st.integers(32, 96),
       overlap=st.integers(0, 24))
def test_plain_text_and_markdown(body, suffix, max_tokens, overlap):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(body.encode("utf-8", "surrogatepass"))
        check(path, path.name, max_tokens, overlap)


@FUZZ
@given(parts=st.lists(st.tuples(st.sampled_from(TAGS), text), max_size=25), max_tokens=st.integers(32, 96))
def test_html(parts, max_tokens):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.html"
        path.write_bytes(html_of(parts).encode("utf-8", "surrogatepass"))
        check(path, path.name, max_tokens, 16)


@settings(FUZZ, max_examples=30)
@given(paragraphs=st.lists(st.tuples(st.sampled_from(["Normal", "Heading 1", "List Bullet", "Title"]), text),
                           max_size=12))
def test_docx(paragraphs):
    import docx
    d = docx.Document()
    for style, body in paragraphs:
        clean = "".join(ch for ch in body if ch in "\t\n" or (ord(ch) >= 32 and not 0xD800 <= ord(ch) < 0xE000
                                                              and ch not in "\ufffe\uffff"))
        d.add_paragraph(clean, style=style)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.docx"
        d.save(str(path))
        check(path, path.name, 48, 8)


@settings(FUZZ, max_examples=30)
@given(pages=st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80), min_size=1,
                      max_size=4))
def test_pdf(pages):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.pdf"
        make_pdf(path, [p.replace("\\", "").replace("(", "").replace(")", "") for p in pages])
        check(path, path.name, 48, 8)


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".html", ".pdf", ".docx", ".md"]))
def test_arbitrary_bytes_never_crash_a_reader(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        check(path, path.name, 64, 8)


@FUZZ
@given(block=text)
def test_sentence_starts_match_blingfires_own_wrapper(block):
    import blingfire
    from rag.segmenter import _starts
    if block.strip() and "\x00" not in block:
        assert sorted(set(_starts(block))) == sorted({s for s, _ in blingfire.text_to_sentences_and_offsets(block)[1]})
