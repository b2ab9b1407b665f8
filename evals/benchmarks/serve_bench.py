"""Serving benchmark (loopback only): `rag serve` start → first answer, RSS while serving, and /api/ask
latency p50/p95 under N concurrent clients (a bounded number of requests each).

    python evals/benchmarks/serve_bench.py [--data-dir DIR] [--clients 8] [--requests 10] [--auth] [--out FILE.json]

--auth serves with RAG_AUTH=password and asks with an API key (the guard, key lookup and grants on every call;
the rate limit is off, since one key asks everything).

Without --data-dir it ingests corpus/ into a temporary data dir first (not timed)."""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["Who signed the memorandum of understanding?", "When was the partnership announced?",
             "What will OpenAI share with the AI Safety Institute?", "Is the agreement legally binding?",
             "What does the partnership say about data centres?", "What is the capital of Peru?",
             "How will AI be used in public services?", "Will OpenAI expand its London office?"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, question: str, timeout: float = 120, key: str | None = None) -> tuple[int, float]:
    body = json.dumps({"question": question}).encode()
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    req = urllib.request.Request(url, body, headers)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    return code, (time.perf_counter() - t0) * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="an already ingested RAG_DATA_DIR (default: ingest corpus/ into a temp dir)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=10, help="requests per client")
    ap.add_argument("--out", help="also write the numbers as JSON here")
    ap.add_argument("--auth", action="store_true", help="serve with RAG_AUTH=password and ask with an API key")
    a = ap.parse_args(argv)
    cli = [sys.executable, "-m", "rag.cli"]
    tmp = tempfile.TemporaryDirectory(prefix="serve-bench-")
    data = a.data_dir or tmp.name
    if not a.data_dir:
        subprocess.run([*cli, "--data-dir", data, "ingest", str(ROOT / "corpus"), "--json"], check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/ask"
    env = {**os.environ, "RAG_LOG_LEVEL": "WARNING"} | ({"RAG_AUTH": "password", "RAG_RATE_LIMIT": "0"} if a.auth else {})
    key = None
    if a.auth:
        made = subprocess.run([*cli, "--data-dir", data, "keys", "create"], check=True, capture_output=True,
                              text=True, cwd=ROOT, env=env)
        key = made.stdout.split()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cli, "--data-dir", data, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"rag serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                code, _ = post(url, QUESTIONS[0], timeout=60, key=key)
                if code == 200:
                    break
            except OSError:
                time.sleep(0.1)
            if time.perf_counter() - t0 > 300:
                raise SystemExit("no answer within 300 s")
        first = time.perf_counter() - t0
        rss_idle = rss_mb(proc.pid)
        jobs = [QUESTIONS[(c + i) % len(QUESTIONS)] for c in range(a.clients) for i in range(a.requests)]
        peak = rss_idle
        t1 = time.perf_counter()
        with cf.ThreadPoolExecutor(a.clients) as pool:
            futures = [pool.submit(post, url, q, 120, key) for q in jobs]
            while not all(f.done() for f in futures):
                peak = max(peak, rss_mb(proc.pid))
                time.sleep(0.2)
        wall = time.perf_counter() - t1
        results = [f.result() for f in futures]
        lat = [ms for code, ms in results if code == 200]
        out = {"first_answer_s": round(first, 2), "rss_mb_after_first_answer": round(rss_idle, 1),
               "rss_mb_peak_under_load": round(peak, 1), "clients": a.clients, "requests": len(jobs),
               "ok": len(lat), "errors": len(jobs) - len(lat), "p50_ms": round(statistics.median(lat), 1),
               "p95_ms": round(pct(lat, 95), 1), "max_ms": round(max(lat), 1),
               "throughput_rps": round(len(jobs) / wall, 2), "cpus": os.cpu_count(), "auth": a.auth,
               "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()
    return report(out, a.out)


def report(out: dict, path: str | None) -> int:
    """Print the numbers (and write them to `path`); exit status 1 when a request failed."""
    print(json.dumps(out, indent=2))
    if path:
        Path(path).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
