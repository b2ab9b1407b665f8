"""Issue 11, ingest half: symlinks, bombs, long lines, crash consistency (kill -9 loop), one ingest per data
dir, a lost Chroma server. Real processes and a real `chroma run` server where it matters."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import Rag, load_settings
from rag.chunking import MAX_UNIT_CHARS, chunk_document, doc_id_for
from rag.documents import read_document
from rag.lock import writer_lock

from conftest import build_corpus, start_chroma

TESTS = Path(__file__).parent
RAG = Path(sys.executable).with_name("rag")
CANTEEN = "The canteen opens at eight every weekday morning and closes at three in the afternoon.\n"


def run_rag(*args, data: Path, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAG), "--data-dir", str(data), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The command failed the documented way: exit 2, one `rag: ...` line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rag: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- symlinks

def test_symlinks_out_of_the_folder_loops_and_duplicates_are_skipped_and_the_run_goes_on(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "canteen.txt").write_text(CANTEEN, "utf-8")
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
    (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
    (folder / "again.txt").symlink_to(folder / "canteen.txt")
    (folder / "broken.txt").symlink_to(folder / "missing.txt")
    (folder / "up").symlink_to(tmp_path)                      # a folder link: never followed
    rag = Rag(load_settings(data_dir=tmp_path / "data"), embedder=embedder)

    report = rag.ingest([folder])

    assert [Path(s).name for s in report.added] == ["canteen.txt"]
    why = {Path(e["source"]).name: e["error"] for e in report.errors}
    assert set(why) == {"passwd.txt", "loop-a.txt", "loop-b.txt", "again.txt", "broken.txt", "up"}
    assert "outside the ingested folders" in why["passwd.txt"] and "/etc/passwd" in why["passwd.txt"]
    assert "loop" in why["loop-a.txt"] and "loop" in why["loop-b.txt"]
    assert "same file as" in why["again.txt"] and "canteen.txt" in why["again.txt"]
    assert "broken link" in why["broken.txt"] and "not followed" in why["up"]
    assert all("\n" not in e for e in why.values())
    texts = [rag.document(i).text for i in rag.documents()]
    assert len(texts) == 1 and "root:" not in texts[0]


def test_a_file_hard_linked_twice_in_the_folder_is_indexed_once(tmp_path, embedder):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "canteen.txt").write_text(CANTEEN, "utf-8")
    os.link(folder / "canteen.txt", folder / "sub" / "copy.txt")          # same st_dev and st_ino
    (folder / "other.txt").write_text("The library lends laptops for two weeks at a time.\n", "utf-8")
    rag = Rag(load_settings(data_dir=tmp_path / "data"), embedder=embedder)
    assert [Path(s).name for s in rag.ingest([folder / "sub" / "copy.txt"]).added] == ["copy.txt"]  # alone: indexed

    report = rag.ingest([folder])

    assert sorted(Path(s).name for s in report.added) == ["canteen.txt", "other.txt"]
    assert [Path(s).name for s in report.removed] == ["copy.txt"]          # the second name's older record goes
    (error,) = report.errors
    assert error["source"] == str(folder / "sub" / "copy.txt")
    assert error["error"] == f"the same file as {folder / 'canteen.txt'} (a hard link), indexed once"
    again = rag.ingest([folder])
    assert not again.added and not again.removed and len(again.errors) == 1
    assert sorted(Path(rag.document(i).source).name for i in rag.documents()) == ["canteen.txt", "other.txt"]


def test_deleting_a_link_removes_what_was_indexed_through_it(tmp_path, embedder):
    folder = tmp_path / "docs"
    (folder / ".drafts").mkdir(parents=True)
    (folder / ".drafts" / "canteen.txt").write_text(CANTEEN, "utf-8")    # hidden: only reachable by the link
    (folder / "link.txt").symlink_to(folder / ".drafts" / "canteen.txt")
    secret = tmp_path / "secret.txt"
    secret.write_text("The vault code is 4321 and only the director knows it.\n", "utf-8")
    rag = Rag(load_settings(data_dir=tmp_path / "data"), embedder=embedder)
    assert [Path(s).name for s in rag.ingest([folder]).added] == ["link.txt"]
    # a record an older version made through a link out of the folder (keyed by the link's target)
    old = read_document(secret, str(folder / "vault.txt"), doc_id_for(str(secret)))
    old.path = str(secret)
    from rag.ingest import Batcher
    from rag.types import IngestReport
    batch = Batcher(rag.store, embedder, rag.settings, rag.settings.collection, IngestReport())
    batch.add(old)
    batch.flush()
    (folder / "vault.txt").symlink_to(secret)
    (folder / "link.txt").unlink()

    report = rag.ingest([folder])

    assert sorted(Path(s).name for s in report.removed) == ["link.txt", "vault.txt"]
    assert rag.documents() == {} and rag.store.count(rag.settings.collection) == 0


# ---------------------------------------------------------------- bombs and long lines

def _limited(code: str, gb: float = 1.5) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter whose address space is capped: an unbounded parse dies of MemoryError.
    The timeout only guards against a hang."""
    def cap():
        limit = int(gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          preexec_fn=cap, cwd=TESTS.parent)


def _read_and_measure(path: Path) -> dict:
    code = ("import json, resource, time; from pathlib import Path; from rag.documents import read_document\n"
            "from rag.errors import DocumentError\n"
            f"t = time.perf_counter()\ntry:\n    read_document(Path({str(path)!r}), 'x', 'x'); why = None\n"
            "except DocumentError as e:\n    why = str(e)\n"
            "print(json.dumps({'why': why, 'seconds': time.perf_counter() - t,"
            " 'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    proc = _limited(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_docx_bomb(path: Path, paragraphs: int = 20_000_000) -> None:
    """A .docx whose document.xml is `paragraphs` empty paragraphs (as in the issue: 20M, ~120 MB of XML)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                    b'wordprocessingml/2006/main"><w:body>')
            block = b"<w:p/>" * 100_000
            for _ in range(paragraphs // 100_000):
                f.write(block)
            f.write(b"</w:body></w:document>")


def test_docx_bomb_is_skipped_in_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.docx"
    make_docx_bomb(bomb)
    assert bomb.stat().st_size < 1_000_000
    got = _read_and_measure(bomb)
    assert got["why"] and "XML elements" in got["why"] and "MAX_XML_ELEMENTS" in got["why"], got
    print(f"docx bomb ({bomb.stat().st_size // 1000} KB): skipped in {got['seconds']:.2f} s, peak RSS {got['rss_mb']:.0f} MB")


def test_docx_that_unpacks_to_too_much_is_skipped(tmp_path):
    bomb = tmp_path / "media.docx"
    make_docx_bomb(bomb, paragraphs=100_000)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z, z.open("word/media/zeros.bin", "w", force_zip64=True) as f:
        for _ in range(200):
            f.write(bytes(1_000_000))
    got = _read_and_measure(bomb)
    assert got["why"] and "unpacks to more than" in got["why"], got


def test_html_tag_bomb_and_deep_nesting_are_skipped(tmp_path):
    tags = tmp_path / "tags.html"
    tags.write_bytes(b"<html><body>" + b"<p></p>" * 2_000_000 + b"</body></html>")
    deep = tmp_path / "deep.html"
    deep.write_bytes(b"<html><body>" + b"<div>" * 50_000 + b"text" + b"</div>" * 50_000 + b"</body></html>")
    got = _read_and_measure(tags)
    assert got["why"] and "HTML tags" in got["why"], got
    got = _read_and_measure(deep)
    assert got["why"] and "nested too deeply" in got["why"], got


def test_pdf_stream_bomb_is_skipped(tmp_path):
    import zlib
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (x) Tj ET\n" + b" " * 300_000_000, 9)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(out)
    got = _read_and_measure(bomb)
    assert got["why"] and "PDF" in got["why"], got


def test_pdf_page_and_text_limits_are_named_and_checked(tmp_path, monkeypatch):
    from rag import documents
    from rag.errors import DocumentError
    from conftest import make_pdf
    pdf = tmp_path / "long.pdf"
    make_pdf(pdf, [f"Page {i} of the long report." for i in range(6)])
    monkeypatch.setattr(documents, "MAX_PDF_PAGES", 5)
    with pytest.raises(DocumentError, match="more than 5 pages"):
        read_document(pdf, "long.pdf", "x")
    monkeypatch.setattr(documents, "MAX_PDF_PAGES", 5000)
    monkeypatch.setattr(documents, "MAX_TEXT_CHARS", 50)
    with pytest.raises(DocumentError, match="MAX_TEXT_CHARS"):
        read_document(pdf, "long.pdf", "x")


@contextmanager
def hang_guard(seconds: int):
    """Fail (instead of hanging the suite) if the body never ends; not a speed assertion."""
    def boom(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("kind", ["words", "dashes"])
def test_a_5_mb_line_without_sentence_ends_is_chunked_with_exact_spans(tmp_path, kind):
    import random
    rnd = random.Random(3)
    line = {"words": lambda: " ".join(rnd.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(1_100_000)),
            "dashes": lambda: "-" * 5_000_000 + "x"}[kind]()[:5_000_001]
    path = tmp_path / "line.txt"
    path.write_text("Title line\n\n" + line + "\n", "utf-8")
    with hang_guard(300):
        doc = read_document(path, "line.txt", "line")
        chunks = chunk_document(doc, 256, 40)
    assert len(chunks) > 100
    covered = 0
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        for s, e, _ in c.sentences:
            assert c.start <= s < e <= c.end and e - s <= MAX_UNIT_CHARS
        covered = max(covered, c.end)
    assert covered == len(doc.text.rstrip())


# ---------------------------------------------------------------- crash consistency

def test_kill_9_at_random_points_never_leaves_orphans(tmp_path):
    proc = subprocess.run([sys.executable, str(TESTS / "crash_driver.py"), str(tmp_path / "data"),
                           str(tmp_path / "docs"), "20", "11"], capture_output=True, text=True, timeout=600,
                          cwd=TESTS.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    print("kill -9 loop:", {k: v for k, v in got.items() if k != "problems"})
    assert got["rounds"] == 20 and got["problems"] == []
    assert got["killed_while_writing"] >= 1, "no kill landed inside a write: the loop tested nothing"
    assert got["final"]["documents"] >= 6 and got["final"]["chunks"] >= got["final"]["documents"]


def test_orphans_left_by_an_older_version_are_swept_at_the_next_ingest(tmp_path, embedder):
    folder = build_corpus(tmp_path / "docs")
    rag = Rag(load_settings(data_dir=tmp_path / "data"), embedder=embedder)
    rag.ingest([folder])
    name = rag.settings.collection
    chunks = rag.store._col(name, "chunks")
    before = rag.store.count(name)
    chunks.add(ids=["deadbeefdeadbeef:0", "deadbeefdeadbeef:1"], embeddings=[[0.1] * embedder.dim] * 2,
               documents=["orphan one", "orphan two"],
               metadatas=[{"doc_id": "deadbeefdeadbeef", "source": "gone.txt", "title": "", "start": 0, "end": 9,
                           "locator": "text"}] * 2)      # what a kill between chunks and record used to leave
    report = rag.ingest([folder])
    assert len(report.skipped) == 5 and rag.store.count(name) == before


# ---------------------------------------------------------------- one ingest at a time

def test_a_second_ingest_on_the_data_dir_gets_a_clear_line_and_questions_still_work(tmp_path, corpus_dir, embedder):
    data = tmp_path / "data"
    Rag(load_settings(data_dir=data), embedder=embedder).ingest([corpus_dir])
    with writer_lock(data):                              # an ingest is running (this process)
        line = one_line_error(run_rag("ingest", str(corpus_dir), data=data))
        asked = run_rag("ask", "When does the board approve the data centre?", "--json", data=data)
    assert f"another ingest is running on {data} (pid {os.getpid()})" in line and "wait for it" in line
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["citations"]
    with writer_lock(data):                              # released when its holder let go
        pass


# ---------------------------------------------------------------- a lost Chroma server

def test_chroma_server_lost_mid_ingest_and_at_question_time(tmp_path, embedder):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from rag.feedback import FeedbackLog
    from ui.api import router

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(8):
        (folder / f"note{i}.txt").write_text(" ".join(f"Note {i} sentence {k} says the canteen menu changes "
                                                      f"on day {k}." for k in range(12)) + "\n", "utf-8")
    data = tmp_path / "data"
    url, server = start_chroma(tmp_path / "server")
    try:
        rag = Rag(load_settings(data_dir=data, chroma_url=url), embedder=embedder)
        rag.ingest([build_corpus(tmp_path / "corpus")])
        app = FastAPI()
        app.include_router(router(rag, FeedbackLog(data)))
        client = TestClient(app)
        assert client.post("/api/ask", json={"question": "Who approved the data centre?"}).status_code == 200

        ingest = subprocess.Popen([str(RAG), "--data-dir", str(data), "ingest", str(folder)], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env={**os.environ, "RAG_CHROMA_URL": url})
        lock, deadline = data / "ingest.lock", time.time() + 120
        while time.time() < deadline and not lock.read_text().strip():   # its pid: the store is open, it runs
            time.sleep(0.05)
        server.kill()
        server.wait(10)
        out, err = ingest.communicate(timeout=300)
        line = one_line_error(subprocess.CompletedProcess(ingest.args, ingest.returncode, out, err))
        assert f"the Chroma server at {url} is not answering" in line and "chroma run" in line

        r = client.post("/api/ask", json={"question": "Who approved the data centre?"})
        assert r.status_code == 503 and "is not answering" in r.json()["detail"], r.text
        asked = run_rag("ask", "Who approved the data centre?", data=data, env={"RAG_CHROMA_URL": url})
        assert "rag: " in one_line_error(asked) and url in asked.stderr
    finally:
        server.kill()
        server.wait(10)
