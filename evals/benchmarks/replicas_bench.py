"""Replicas under load (loopback only): N `rag serve` processes sharing one `chroma run` server and one
throwaway PostgreSQL (evals/benchmarks/postgres.py), C clients asking /api/ask round-robin across them for
S seconds; latency p50/p95 (nearest rank), errors, throughput, and the first answer of each replica.

    python -m evals.benchmarks.replicas_bench [--replicas 2] [--clients 32] [--seconds 60] [--out FILE.json]

corpus/ is ingested into the Chroma server by a `rag ingest` job first (not timed). Warm: the clients start
after every replica answered once (each replica warms up before its port opens)."""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import free_port
from .postgres import Postgres
from .serve_bench import QUESTIONS, pct, post, report, rss_mb

ROOT = Path(__file__).resolve().parents[2]


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_answer(url: str, proc: subprocess.Popen, t0: float) -> float:
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"a replica exited (code {proc.returncode})")
        try:
            if post(url, QUESTIONS[0], timeout=60)[0] == 200:
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
        if time.perf_counter() - t0 > 300:
            raise SystemExit("no answer within 300 s")


def client(url: str, first: int, until: float) -> list[tuple[int, float]]:
    out, i = [], first
    while time.perf_counter() < until:
        out.append(post(url, QUESTIONS[i % len(QUESTIONS)], timeout=120))
        i += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    a = ap.parse_args(argv)
    rag = [sys.executable, "-m", "rag.cli"]
    procs = []
    with tempfile.TemporaryDirectory(prefix="replicas-bench-") as tmp, Postgres() as pg:
        tmp = Path(tmp)
        port = free_port()
        procs.append(start([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(tmp / "chroma"),
                            "--host", "127.0.0.1", "--port", str(port)], dict(os.environ), tmp / "chroma.log"))
        env = {**os.environ, "RAG_CHROMA_URL": f"http://127.0.0.1:{port}", "RAG_DATABASE_URL": pg.create("bench"),
               "RAG_LOG_LEVEL": "WARNING"}
        try:
            for _ in range(150):
                if subprocess.run([*rag, "--data-dir", str(tmp / "job"), "ingest", str(ROOT / "corpus")], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                    break
                time.sleep(0.5)     # the Chroma server is still starting
            urls, firsts = [], []
            t0 = time.perf_counter()
            for i in range(a.replicas):
                p = free_port()
                procs.append(start([*rag, "--data-dir", str(tmp / f"replica{i}"), "serve", "--port", str(p)], env,
                                   tmp / f"replica{i}.log"))
                urls.append(f"http://127.0.0.1:{p}/api/ask")
            firsts = [round(wait_answer(u, pr, t0), 2) for u, pr in zip(urls, procs[1:])]
            until = time.perf_counter() + a.seconds
            t1 = time.perf_counter()
            with cf.ThreadPoolExecutor(a.clients) as pool:
                futures = [pool.submit(client, urls[c % len(urls)], c, until) for c in range(a.clients)]
                results = [r for f in futures for r in f.result()]
            wall = time.perf_counter() - t1
            lat = [ms for code, ms in results if code == 200]
            out = {"replicas": a.replicas, "clients": a.clients, "seconds": round(wall, 1), "requests": len(results),
                   "ok": len(lat), "errors": len(results) - len(lat), "p50_ms": round(statistics.median(lat), 1),
                   "p95_ms": round(pct(lat, 95), 1), "max_ms": round(max(lat), 1),
                   "throughput_rps": round(len(results) / wall, 2), "first_answer_s": firsts,
                   "rss_mb": [round(rss_mb(pr.pid), 1) for pr in procs[1:]], "cpus": os.cpu_count(),
                   "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}
        finally:
            for pr in reversed(procs):
                pr.terminate()
                try:
                    pr.wait(40)
                except subprocess.TimeoutExpired:
                    pr.kill()
    return report(out, a.out)


if __name__ == "__main__":
    sys.exit(main())
