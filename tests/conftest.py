"""Shared fixtures: the fixture corpus (txt, md, html, generated pdf and docx), one embedder, and a
Rag per store backend: embedded Chroma and a real `chroma run` server on loopback."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from evals.benchmarks.common import free_port  # noqa: F401  (tests import it from here)
from rag import Rag, load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "docs"


def make_pdf(path: Path, pages: list[str]) -> None:
    """A minimal valid PDF with one line of Helvetica text per page (no PDF library needed)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode('latin-1')}\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objs)} 0 R "
                    "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Onboarding Guide", level=1)
    d.add_paragraph("New staff receive a laptop and a badge on their first day.")
    d.add_heading("Security", level=2)
    d.add_paragraph("Badges must be worn at all times and lost badges reported to security within 24 hours.")
    d.save(str(path))


def build_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in FIXTURES.iterdir():
        shutil.copy(f, folder / f.name)
    make_pdf(folder / "report.pdf", ["Annual Report 2023. Revenue grew by 12 percent to 4.2 million pounds.",
                                     "The board approved a new data centre in Leeds."])
    make_docx(folder / "onboarding.docx")
    return folder


def managed_rag(data: Path, embedder, fixtures: Path, password: str, manager: tuple[str, str], asker: str,
                **settings):
    """RAG_AUTH=password over `fixtures` in collection 'default': `asker` (group staff) may ask it, `manager`
    (name, group) manages it. -> (rag, accounts)."""
    from rag.auth import Accounts

    rag = Rag(load_settings(data_dir=data, auth="password", **settings), embedder=embedder)
    assert not rag.ingest([fixtures]).errors
    accounts = Accounts(data)
    accounts.add_user(manager[0], password, manager[1])
    accounts.add_user(asker, password, "staff")
    rag.access.grant("default", groups=["staff"])
    rag.access.grant("default", groups=[manager[1]], manage=True)
    return rag, accounts


@contextlib.contextmanager
def serving(app):
    """An ASGI app served by uvicorn on a free loopback port (in a thread); yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        proxy_headers=False))  # as `rag serve`: the peer address is never rewritten
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def static_site(folder: Path, host: str = "127.0.0.1"):
    """A folder served over HTTP on a free port of `host` (another origin than the app: an intranet page)."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def widget_ask(page, question: str):
    """Open the widget on `page`, ask `question`; returns (the chat's frame, the first citation link)."""
    from playwright.sync_api import expect

    page.locator("#rag-widget-button").click()
    chat = page.frame_locator("#rag-widget-frame")
    q = chat.get_by_label("Your question")
    q.fill(question)
    q.press("Enter")
    link = chat.locator(".rag-msg.bot a.rag-cite").first
    expect(link).to_have_text("[1]")
    return chat, link


AXE = Path(__file__).resolve().parents[1] / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"  # scripts/test


def axe_violations(page) -> list[str]:
    """Serious and critical axe-core violations on the page once no Gradio event is pending (its context needs
    bypass_csp=True): while one is, Gradio shows its output at opacity .2, which axe reads as low contrast (the
    sidebar's "Knowledge gaps" link, filled in by the page's load event, failed so on a loaded machine), nor
    while a component fades back in (its opacity is animated: the same link failed so again, with no event
    pending), nor while any CSS transition or finite animation runs (it failed once more with every `.block` at
    opacity 1)."""
    page.wait_for_function("() => !document.querySelector('.pending') && "
                           "[...document.querySelectorAll('.block')].every(b => getComputedStyle(b).opacity === '1') && "
                           "document.getAnimations().every(a => a.playState !== 'running' || "
                           "a.effect?.getComputedTiming().iterations === Infinity)")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")["violations"]
    return [f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}" for v in found
            if v["impact"] in ("serious", "critical")]


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, through playwright (scripts/test installs it)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium (scripts/test installs Debian's chromium)")
    sync_api.expect.set_options(timeout=30_000)  # 2 shared cores: answers can take a few seconds
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def embedder():
    from rag.embedder import OnnxEmbedder

    return OnnxEmbedder()


def start_chroma(path: Path, log=subprocess.DEVNULL) -> tuple[str, subprocess.Popen]:
    """A real Chroma server (`chroma run`, from the chromadb wheel) on a free loopback port: (url, process)."""
    port = free_port()
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return url, proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("chroma server did not start")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """One Chroma server for the session."""
    log = open(tmp_path_factory.mktemp("chroma-log") / "server.log", "w")
    url, proc = start_chroma(tmp_path_factory.mktemp("chroma-server"), log)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["embedded", "server"])
def make_rag(request, tmp_path, embedder):
    """Factory for a Rag on a fresh store, once per backend; the same tests run against both."""
    counter = iter(range(1000))

    def make(**overrides):
        settings = dict(data_dir=tmp_path / "data", collection=f"t{next(counter)}{time.time_ns() % 10**9}")
        if request.param == "server":
            settings["chroma_url"] = request.getfixturevalue("chroma_server")
        return Rag(load_settings(**(settings | overrides)), embedder=embedder)

    make.backend = request.param
    return make


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (evals/benchmarks/postgres.py)."""
    from evals.benchmarks.postgres import Postgres

    with Postgres() as pg:
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path, monkeypatch):
    """Where the app's state lives, once per database: a data dir (SQLite in it) or a fresh PostgreSQL
    database, whose URL is also put in RAG_DATABASE_URL for code that reads the settings."""
    if request.param == "sqlite":
        return tmp_path
    from rag.db import connect

    url = request.getfixturevalue("postgres").create(f"t{time.time_ns()}")
    monkeypatch.setenv("RAG_DATABASE_URL", url)
    return connect(load_settings(data_dir=tmp_path))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("corpus") / "docs")


@pytest.fixture(scope="session")
def fixture_rag(tmp_path_factory, embedder, corpus_dir):
    """One embedded Rag with the fixture corpus ingested, shared by read-only tests."""
    rag = Rag(load_settings(data_dir=tmp_path_factory.mktemp("data")), embedder=embedder)
    report = rag.ingest([corpus_dir])
    assert not report.errors, report.errors
    return rag
