"""CPU per /api/ask (loopback only): one `rag serve` replica per checkout, all on one `chroma run` server and one
throwaway PostgreSQL, as in replicas_bench; each round sends every replica the same questions from C clients,
in turn (the order reversed every other round), and reads the CPU time the replica, the Chroma server and
PostgreSQL used from /proc. CPU time per question is what bounds throughput on a saturated machine, and unlike
latency it is little changed by other work on a shared machine; the medians over the rounds are reported.

    python -m evals.benchmarks.ask_cpu [--trees ../main,.] [--rounds 5] [--requests 80] [--clients 8] [--out FILE]

corpus/ is ingested by a `rag ingest` job with the first checkout's code first (not timed), and each replica
answers every question twice before the rounds (warm)."""
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
from .replicas_bench import start, wait_answer
from .serve_bench import QUESTIONS, post, report
from .startup import cpu_seconds

ROOT = Path(__file__).resolve().parents[2]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 once it is gone)."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p.name))
        except OSError:
            pass
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default=str(ROOT), help="comma-separated checkouts to run (default: this one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=80, help="questions per replica per round")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    a = ap.parse_args(argv)
    trees = [Path(t).resolve() for t in a.trees.split(",")]
    py, procs = sys.executable, []
    with tempfile.TemporaryDirectory(prefix="ask-cpu-") as tmp, Postgres() as pg:
        tmp = Path(tmp)
        port = free_port()
        chroma = start([str(Path(py).with_name("chroma")), "run", "--path", str(tmp / "chroma"), "--host", "127.0.0.1",
                        "--port", str(port)], dict(os.environ), tmp / "chroma.log")
        procs.append(chroma)
        env = {**os.environ, "RAG_CHROMA_URL": f"http://127.0.0.1:{port}", "RAG_DATABASE_URL": pg.create("bench"),
               "RAG_LOG_LEVEL": "WARNING"}
        try:
            for _ in range(150):
                if subprocess.run([py, "-m", "rag.cli", "--data-dir", str(tmp / "job"), "ingest", str(ROOT / "corpus")],
                                  cwd=trees[0], env={**env, "PYTHONPATH": str(trees[0])}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode == 0:
                    break
                time.sleep(0.5)     # the Chroma server is still starting
            replicas = []
            for i, tree in enumerate(trees):
                p = free_port()
                proc = subprocess.Popen([py, "-m", "rag.cli", "--data-dir", str(tmp / f"replica{i}"), "serve", "--port",
                                         str(p)], cwd=tree, env={**env, "PYTHONPATH": str(tree)},
                                        stdout=(tmp / f"replica{i}.log").open("w"), stderr=subprocess.STDOUT)
                procs.append(proc)
                replicas.append((str(tree), f"http://127.0.0.1:{p}/api/ask", proc))
            t0 = time.perf_counter()
            for _, url, proc in replicas:
                wait_answer(url, proc, t0)
                for q in QUESTIONS * 2:
                    post(url, q)
            postmaster = int((pg.folder / "data" / "postmaster.pid").read_text().split()[0])
            parts = ("replica", "chroma", "postgres")
            ms = {tree: {k: [] for k in parts} for tree, _, _ in replicas}
            errors, loads = {tree: 0 for tree, _, _ in replicas}, []
            for rnd in range(a.rounds):
                for tree, url, proc in (replicas if rnd % 2 == 0 else replicas[::-1]):
                    pids = {"replica": lambda: [proc.pid], "chroma": lambda: [chroma.pid, *children(chroma.pid)],
                            "postgres": lambda: children(postmaster)}    # a PostgreSQL backend per connection
                    before = {k: {p: cpu_s(p) for p in f()} for k, f in pids.items()}
                    with cf.ThreadPoolExecutor(a.clients) as pool:
                        codes = list(pool.map(lambda i: post(url, QUESTIONS[i % len(QUESTIONS)])[0], range(a.requests)))
                    for k, f in pids.items():   # processes alive at the end: their CPU since the start (or birth)
                        used = sum(cpu_s(p) - before[k].get(p, 0.0) for p in f())
                        ms[tree][k].append(used / a.requests * 1000)
                    errors[tree] += sum(c != 200 for c in codes)
                loads.append(os.getloadavg()[0])
                print(f"round {rnd + 1}, load {loads[-1]:.1f}: " + "; ".join(
                    f"{tree}: replica {ms[tree]['replica'][-1]:.1f} ms" for tree, _, _ in replicas), file=sys.stderr)
            out = {"rounds": a.rounds, "requests": a.requests, "clients": a.clients, "cpus": os.cpu_count(),
                   "loadavg_1m": [round(x, 2) for x in loads], "errors": sum(errors.values()),
                   "cpu_ms_per_ask": {tree: {k: round(statistics.median(v), 1) for k, v in m.items()}
                                      | {"errors": errors[tree]} for tree, m in ms.items()}}
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return report(out, a.out)


if __name__ == "__main__":
    sys.exit(main())
