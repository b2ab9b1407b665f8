"""Two `rag serve` replicas as real processes on loopback, sharing one `chroma run` server and one PostgreSQL
database, with ingest as a separate job (`rag ingest` in its own process and data dir):
- a sign-in made on one replica is honoured by the other, and signing out on it ends it on both;
- feedback given on one is in the shared database;
- a document ingested by the job is answered from by both replicas at their next question (each question
  reads the collection's version from Chroma, and a replica whose BM25 side is older reloads it);
- SIGTERM: a replica finishes the request in flight and exits 0;
- rate limits hold across the replicas (one bucket per caller in PostgreSQL)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port

RAG = str(Path(sys.executable).with_name("rag"))
PASSWORD = "correct horse battery"


def run(env, *args, stdin: str | None = None) -> str:
    done = subprocess.run([RAG, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_replica(env, data_dir: Path, log: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([RAG, "--data-dir", str(data_dir), "serve", "--port", str(port)], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", proc


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"replica {url} not ready in {timeout} s:\n{log.read_text()}")


def small_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "small"
    folder.mkdir(exist_ok=True)
    (folder / "meals.txt").write_text("Travel\n\nThe meal allowance when travelling is 25 pounds a day.\n")
    return folder


def test_two_replicas_share_the_index_and_the_state(tmp_path, chroma_server, postgres):
    collection = f"rep{time.time_ns() % 10**9}"
    env = {**os.environ, "RAG_CHROMA_URL": chroma_server, "RAG_DATABASE_URL": postgres.create(collection),
           "RAG_AUTH": "password", "RAG_COLLECTION": collection, "RAG_RATE_LIMIT": "0", "RAG_LOG_LEVEL": "WARNING"}
    job = ["--data-dir", str(tmp_path / "job")]
    run(env, *job, "ingest", str(small_folder(tmp_path)))
    run(env, *job, "users", "add", "ana", "--groups", "staff", stdin=PASSWORD + "\n")
    run(env, *job, "access", "grant", collection, "--groups", "staff")

    replicas = [start_replica(env, tmp_path / f"replica{i}", tmp_path / f"replica{i}.log") for i in (0, 1)]
    try:
        for i, (url, proc) in enumerate(replicas):
            wait_ready(url, proc, tmp_path / f"replica{i}.log")
        (a, _), (b, _) = replicas
        signin = httpx.post(f"{a}/signin", data={"name": "ana", "password": PASSWORD, "next": "/"})
        assert signin.status_code == 303
        cookie = {"Cookie": f"rag_session={re.search(r'rag_session=([^;]+)', signin.headers['set-cookie'])[1]}"}
        ask = {"question": "How much is the meal allowance when travelling?"}
        on_b = httpx.post(f"{b}/api/ask", json=ask, headers=cookie, timeout=60)
        assert on_b.status_code == 200 and not on_b.json()["refused"]          # A's sign-in, honoured by B

        given = httpx.post(f"{b}/api/feedback", headers=cookie, timeout=30,
                           json={"question": ask["question"], "answer": on_b.json()["answer"], "verdict": "up"})
        assert given.status_code == 201
        exported = run(env, *job, "feedback", "export")                          # the job reads the shared database
        assert f'"id": {given.json()["id"]}' in exported and '"user": "ana"' in exported

        new = tmp_path / "new" / "bikes.txt"
        new.parent.mkdir()
        new.write_text("Bicycle parking\n\nThe bicycle shed behind the Leeds office opens with door code 4711.\n")
        question = {"question": "What is the door code of the bicycle shed?"}
        assert "4711" not in httpx.post(f"{a}/api/ask", json=question, headers=cookie, timeout=60).text
        run(env, *job, "ingest", str(new))
        ingested = time.monotonic()
        for url in (a, b):      # the very next question on each replica answers from the new document
            answer = httpx.post(f"{url}/api/ask", json=question, headers=cookie, timeout=60).json()
            assert "4711" in answer["answer"], answer
        print(f"new document answered on both replicas {time.monotonic() - ingested:.2f} s after the ingest ended")
        loads = httpx.get(f"{b}/metrics").text
        assert re.search(r'rag_bm25_loads_total\{source="build"\} [2-9]', loads), loads   # start-up, then the ingest

        assert httpx.post(f"{b}/signout", headers=cookie).status_code == 303     # ends the session everywhere
        assert httpx.post(f"{a}/api/ask", json=ask, headers=cookie).status_code == 401

        url, proc = replicas[0]                 # graceful stop: the request in flight is answered
        key = run(env, *job, "keys", "create").strip()
        result = {}
        asking = threading.Thread(target=lambda: result.update(r=httpx.post(
            f"{url}/api/ask", json=ask, headers={"Authorization": f"Bearer {key}"}, timeout=60)))
        asking.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        asking.join(60)
        assert proc.wait(40) == 0
        assert result["r"].status_code == 200
    finally:
        for _, proc in replicas:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_rate_limits_hold_across_replicas(tmp_path, chroma_server, postgres):
    """RAG_RATE_LIMIT=2 with two replicas on one PostgreSQL: a key's bucket is one row there, so its third and
    fourth questions are refused whichever replica they reach (per process, each would allow 2)."""
    collection = f"rl{time.time_ns() % 10**9}"
    env = {**os.environ, "RAG_CHROMA_URL": chroma_server, "RAG_DATABASE_URL": postgres.create(collection),
           "RAG_AUTH": "password", "RAG_COLLECTION": collection, "RAG_RATE_LIMIT": "2", "RAG_LOG_LEVEL": "WARNING"}
    job = ["--data-dir", str(tmp_path / "job")]
    run(env, *job, "ingest", str(small_folder(tmp_path)))
    key, other = (run(env, *job, "keys", "create").strip() for _ in range(2))
    replicas = [start_replica(env, tmp_path / f"replica{i}", tmp_path / f"replica{i}.log") for i in (0, 1)]
    try:
        for i, (url, proc) in enumerate(replicas):
            wait_ready(url, proc, tmp_path / f"replica{i}.log")
        (a, _), (b, _) = replicas

        def ask(url, k):   # an empty question: refused with 400 after the limiter, so the sequence is quick
            return httpx.post(f"{url}/api/ask", json={"question": ""}, headers={"Authorization": f"Bearer {k}"},
                              timeout=60)
        codes = [ask(url, key) for url in (a, b, a, b)]
        assert [r.status_code for r in codes] == [400, 400, 429, 429]
        assert all(1 <= int(r.headers["retry-after"]) <= 30 for r in codes[2:]), [r.headers for r in codes]
        assert ask(b, other).status_code == 400                                  # another key: its own bucket
        answer = httpx.post(f"{a}/api/ask", json={"question": "How much is the meal allowance when travelling?"},
                            headers={"Authorization": f"Bearer {other}"}, timeout=60)
        assert answer.status_code == 200 and not answer.json()["refused"]
        assert ask(b, other).status_code == 429
    finally:
        for _, proc in replicas:
            proc.kill()
            proc.wait(10)


def test_a_replica_never_sweeps_a_write_under_way_on_the_server(tmp_path, chroma_server, embedder):
    """The ingest job and the replicas have data dirs of their own, so a free lock in a replica's data dir says
    nothing about the job: a replica reading the collection mid-write must leave the job's new rows alone."""
    from rag import Rag, load_settings

    settings = dict(chroma_url=chroma_server, collection=f"sw{time.time_ns() % 10**9}")
    job = Rag(load_settings(data_dir=tmp_path / "job", **settings), embedder=embedder)
    folder = small_folder(tmp_path)
    assert not job.ingest([folder]).errors
    name, store = job.settings.collection, job.store
    store._mark(name, pending=True)                                       # the job is writing ...
    doc_id = next(iter(store.doc_records(name)))
    store._col(name, "chunks").upsert(ids=[f"{doc_id}:g0123456789:0"], embeddings=[[0.1] * embedder.dim],
                                      documents=["new text"], metadatas=[{"doc_id": doc_id}])  # ... a new row
    before = store.count(name)
    replica = Rag(load_settings(data_dir=tmp_path / "replica", **settings), embedder=embedder)
    replica.store.version(name)
    assert replica.store.count(name) == before                            # left alone
    assert not job.ingest([folder]).errors and job.store.count(name) == before - 1   # the next ingest repairs


def test_one_ingest_per_collection_across_hosts(tmp_path, chroma_server, postgres, embedder, monkeypatch):
    """Ingest jobs on different hosts have their own data dirs (and locks); sharing RAG_DATABASE_URL, they take
    a PostgreSQL advisory lock per collection, released even if the holder dies (its connection closes)."""
    from rag import Rag, load_settings
    from rag.db import connect
    from rag.errors import Unavailable

    monkeypatch.setenv("RAG_DATABASE_URL", postgres.create(f"lock{time.time_ns()}"))
    settings = dict(chroma_url=chroma_server, collection=f"lk{time.time_ns() % 10**9}")
    here, there = (Rag(load_settings(data_dir=tmp_path / d, **settings), embedder=embedder) for d in ("a", "b"))
    with connect(there.settings).exclusive(f"ingest:{there.settings.collection}", "busy"):   # "there" is ingesting
        with pytest.raises(Unavailable, match="another ingest into collection .* is running .*RAG_DATABASE_URL"):
            here.ingest([small_folder(tmp_path)])
    assert here.ingest([small_folder(tmp_path)]).added                      # free again


def test_replicas_sharing_a_bm25_cache_folder_build_it_once(tmp_path, chroma_server, embedder):
    from rag import Rag, load_settings
    from rag.metrics import INDEX_LOADS

    settings = dict(chroma_url=chroma_server, collection=f"bc{time.time_ns() % 10**9}", bm25_cache=tmp_path / "shared")
    job = Rag(load_settings(data_dir=tmp_path / "job", **settings), embedder=embedder)
    assert not job.ingest([small_folder(tmp_path)]).errors
    one, two = (Rag(load_settings(data_dir=tmp_path / d, **settings), embedder=embedder) for d in ("r1", "r2"))
    built, loaded = INDEX_LOADS.labels("build")._value.get(), INDEX_LOADS.labels("cache")._value.get()
    assert one.search("meal allowance", k=1) and two.search("meal allowance", k=1)
    assert INDEX_LOADS.labels("build")._value.get() == built + 1         # the first replica built it ...
    assert INDEX_LOADS.labels("cache")._value.get() == loaded + 1        # ... the second loaded its file
    assert (tmp_path / "shared" / f"{job.settings.collection}.npz").exists() and not (tmp_path / "r2" / "bm25").exists()
