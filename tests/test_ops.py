"""Operations: /healthz, /readyz, /metrics (and who may read them), request ids, JSON logs."""
from __future__ import annotations

import json
import logging

import httpx
import pytest
from pydantic import SecretStr

from conftest import serving
from rag import Rag, load_settings
from rag.errors import Unavailable


@pytest.fixture(scope="module")
def ops_site(fixture_rag):
    from ui.app import create_app

    with serving(create_app(fixture_rag)) as url:
        yield url


def test_health_readiness_and_metrics(ops_site):
    with httpx.Client(base_url=ops_site, timeout=60) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "store": "ok", "database": "ok"}
        for probe in ("/healthz", "/readyz"):     # probes by IP pass the Host check; nothing else does
            assert client.get(probe, headers={"Host": "10.0.0.7:7860"}).status_code == 200
        assert client.get("/api/openapi.json", headers={"Host": "10.0.0.7:7860"}).status_code == 400
        assert client.post("/api/ask", json={"question": "When does the canteen open?"}).status_code == 200
        assert client.post("/api/ask", json={"question": ""}).status_code == 400
        r = client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
    for line in ('rag_http_requests_total{method="POST",route="api/ask",status="200"}',
                 'rag_http_requests_total{method="POST",route="api/ask",status="400"}',
                 'rag_answer_seconds_bucket{le="0.01",stage="retrieve"}', 'rag_answer_seconds_count{stage="total"}',
                 'rag_answers_total{backend="extractive",refused=', 'rag_http_request_seconds_bucket{le="1.0",route="api/ask"}',
                 "process_resident_memory_bytes", "# TYPE rag_llm_tokens_total counter",
                 "# TYPE rag_ingest_documents_total counter", "# TYPE rag_errors_total counter"):
        assert line in text, line


def test_metrics_are_for_loopback_or_the_token_holder(ops_site, fixture_rag):
    from ui.app import create_app

    forwarded = httpx.get(f"{ops_site}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 403 and "RAG_METRICS_TOKEN" in forwarded.json()["detail"]
    token = "s3cret-scraper-token"
    rag = Rag(fixture_rag.settings.model_copy(update={"metrics_token": SecretStr(token)}), embedder=fixture_rag.embedder,
              store=fixture_rag.store)
    with serving(create_app(rag)) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401              # loopback too: the token is required
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}",
                                                  "X-Forwarded-For": "203.0.113.9"})
        assert ok.status_code == 200 and "rag_http_requests_total" in ok.text


def test_readyz_names_the_part_that_is_down(fixture_rag, monkeypatch):
    from ui.app import create_app

    class DownStore:
        def collections(self):
            raise Unavailable("the Chroma server at http://10.0.0.9:8000 is not answering")
    rag = Rag(fixture_rag.settings, embedder=fixture_rag.embedder, store=DownStore())
    with serving(create_app(rag)) as url:
        r = httpx.get(f"{url}/readyz")
        assert r.status_code == 503 and r.json() == {"status": "unavailable", "store": "unavailable", "database": "ok"}
        assert "10.0.0.9" not in r.text                                   # the cause goes to the log only

        def down(self):
            raise Unavailable("the state database is not answering")
        monkeypatch.setattr("rag.db.Database.ping", down)
        assert httpx.get(f"{url}/readyz").json()["database"] == "unavailable"


def test_request_ids_and_json_logs(ops_site, capsys):
    from rag.logs import configure

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure("INFO", "json")
        r = httpx.post(f"{ops_site}/api/ask", json={"question": "When does the canteen open?"},
                       headers={"X-Request-Id": "trace-42"})
        wild = httpx.get(f"{ops_site}/healthz", headers={"X-Request-Id": "bad id with spaces"})
    finally:
        root.handlers[:], root.level = saved
    assert r.headers["x-request-id"] == "trace-42"
    assert len(wild.headers["x-request-id"]) == 32 and " " not in wild.headers["x-request-id"]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    mine = [rec for rec in lines if rec["request_id"] == "trace-42"]
    assert any(rec["logger"] == "rag.api" and rec["message"].startswith("ask ") for rec in mine)  # in the worker thread
    access = next(rec for rec in mine if rec["logger"] == "rag.access_log")
    assert access["path"] == "/api/ask" and access["status"] == 200 and access["level"] == "INFO"
    assert set(access) >= {"time", "level", "logger", "message", "request_id", "method", "ms", "client"}
