"""The web app for real: uvicorn on loopback, REST API with httpx, chat and widget in headless Chromium."""
from __future__ import annotations

import concurrent.futures as cf
import functools
import http.server
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from rag import Rag, load_settings
from rag.feedback import FeedbackLog

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures_ui"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
XSS_Q = "What is the security drill code word?"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, url: str, rag: Rag):
        self.url, self.rag = url, rag
        self.feedback = FeedbackLog(rag.settings.data_dir)


@pytest.fixture(scope="session")
def server(tmp_path_factory, embedder):
    """The real app (ui.app.create_app) on a free loopback port, over the UI fixture documents + the corpus."""
    import uvicorn

    from ui.app import create_app

    rag = Rag(load_settings(data_dir=tmp_path_factory.mktemp("ui-data")), embedder=embedder)
    report = rag.ingest([ROOT / "corpus", FIXTURES])
    assert not report.errors, report.errors
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(rag), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", rag)
    srv.should_exit = True
    thread.join(10)


def ask(server, question, **kw):
    return httpx.post(f"{server.url}/api/ask", json={"question": question, **kw}, timeout=60)


# ---------------------------------------------------------------- REST API

def test_api_ask_returns_the_design_answer_object(server):
    r = ask(server, "Who signed the memorandum of understanding?")
    assert r.status_code == 200, r.text
    a = r.json()
    assert set(a) >= {"question", "answer", "refused", "citations", "backend", "timings_ms"}
    assert not a["refused"] and "[1]" in a["answer"]
    for c in a["citations"]:
        assert f"[{c['n']}]" in a["answer"]
        src = httpx.get(f"{server.url}/api/sources/{c['doc_id']}").json()
        assert src["text"][c["start"]:c["end"]] == c["quote"]
        assert src["title"] == c["title"] and Path(src["source"]).name == Path(c["source"]).name


def test_api_follow_up_uses_history(server):
    first = "Who signed the memorandum of understanding?"
    a1 = ask(server, first).json()
    a2 = ask(server, "When was it signed?", history=[{"role": "user", "content": first},
                                                      {"role": "assistant", "content": a1["answer"]}])
    assert a2.status_code == 200 and a2.json()["citations"], a2.text


@pytest.mark.parametrize("question, words", [("", "type a question"), ("   \n\t ", "type a question"),
                                             ("x" * 2001, "2000")])
def test_api_bad_questions_get_a_clear_400(server, question, words):
    r = ask(server, question)
    assert r.status_code == 400 and words in r.json()["detail"].lower()


def test_api_rejects_malformed_bodies_and_unknown_collections(server):
    assert httpx.post(f"{server.url}/api/ask", json={"question": 3}).status_code == 422
    assert ask(server, "hello there", collection="no-such-collection").status_code == 404
    assert ask(server, "hello there", collection="../etc").status_code == 400


@pytest.mark.parametrize("doc_id", ["nope", "..%2F..%2Fetc%2Fpasswd", "..", "%2Fetc%2Fpasswd",
                                    "tests%2Ffixtures_ui%2Fcanteen-policy.md", "canteen-policy.md"])
def test_api_sources_only_serves_indexed_ids(server, doc_id):
    r = httpx.get(f"{server.url}/api/sources/{doc_id}")
    assert r.status_code == 404
    assert "root:" not in r.text and "Canteen" not in r.text


def test_api_concurrent_asks_all_succeed(server):
    qs = ["Who signed the memorandum?", "When does the canteen open?", XSS_Q, "What about AI safety research?"] * 2
    with cf.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda q: ask(server, q).status_code, qs))
    assert codes == [200] * 8


def test_openapi_documents_the_routes(server):
    spec = httpx.get(f"{server.url}/api/openapi.json").json()
    assert {"/api/ask", "/api/sources/{doc_id}", "/api/feedback", "/healthz"} <= set(spec["paths"])
    assert "AskRequest" in spec["components"]["schemas"] and "AnswerOut" in spec["components"]["schemas"]
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_embed_origins_enforced_by_csp_and_cors(server):
    csp = httpx.get(f"{server.url}/embed").headers["content-security-policy"]
    assert "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'self'" == httpx.get(f"{server.url}/").headers["content-security-policy"]
    ok = httpx.options(f"{server.url}/api/ask", headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "POST"})
    assert ok.headers.get("access-control-allow-origin") == "http://127.0.0.1:9"
    bad = httpx.get(f"{server.url}/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers


def test_feedback_api_reaches_the_database_and_exports(server, tmp_path):
    from rag.cli import main

    r = httpx.post(f"{server.url}/api/feedback", headers={"X-Forwarded-User": "ana"},
                   json={"question": "q-api", "answer": "a [1]", "verdict": "down", "comment": "too short",
                         "citations": [{"n": 1, "doc_id": "x"}]})
    assert r.status_code == 201
    row = next(r for r in server.feedback.rows() if r["question"] == "q-api")
    assert (row["verdict"], row["comment"], row["user"], row["citations"][0]["n"]) == ("down", "too short", "ana", 1)
    assert httpx.post(f"{server.url}/api/feedback", json={"question": "q", "answer": "a", "verdict": "meh"}).status_code == 422
    out = tmp_path / "fb.csv"
    assert main(["--data-dir", str(server.rag.settings.data_dir), "feedback", "export", "--format", "csv",
                 "--out", str(out)]) == 0
    assert "q-api" in out.read_text() and out.read_text().startswith("id,time,user,question")
