"""`rag serve` start-up: seconds from launching the process to /readyz answering 200 (the port opens only
after the warm-up) and to the first answer, and the CPU seconds the process used until ready (less
sensitive than wall time to other work on a shared machine), over several rounds (medians), on an
ingested data dir. `--trees` compares checkouts (e.g. main and a branch) in the same rounds, interleaved.

    python -m evals.benchmarks.startup [--data-dir DIR] [--rounds 5] [--trees ../main,.]

Without --data-dir it ingests corpus/ into a temporary data dir first (not timed)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .common import free_port

ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; OSError once it is gone)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    return round(cpu_seconds(pid), 2)


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, MB (Linux /proc)."""
    kb = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return round(int(kb) / 1024, 1)


def wait_ready(base: str, proc: subprocess.Popen, t0: float, limit: float) -> float:
    """Seconds from t0 until base/readyz answers 200; stops the benchmark if the process ends or `limit` passes."""
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:             # not listening yet, or 503 while warming up
            time.sleep(0.05)
        if proc.poll() is not None or time.perf_counter() - t0 > limit:
            raise SystemExit("rag serve did not become ready")


def one_start(data: str, tree: Path = ROOT) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--data-dir", data, "serve", "--port", str(port)],
                            cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RAG_LOG_LEVEL": "WARNING", "PYTHONPATH": str(tree),
                                 "RAG_BM25_CACHE": str(Path(data) / f"bm25-{tree.name}")})   # caches apart
    try:
        ready = wait_ready(base, proc, t0, limit=300)
        cpu = cpu_s(proc.pid)
        body = json.dumps({"question": "Who signed the memorandum of understanding?"}).encode()
        req = urllib.request.Request(f"{base}/api/ask", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
        return {"ready_s": round(ready, 2), "first_answer_s": round(time.perf_counter() - t0, 2), "cpu_s": cpu}
    finally:
        proc.terminate()
        proc.wait(40)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="an already ingested RAG_DATA_DIR (default: ingest corpus/ into a temp dir)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trees", default=str(ROOT), help="comma-separated checkouts whose code to run (default: this one)")
    a = ap.parse_args(argv)
    trees = [Path(t).resolve() for t in a.trees.split(",")]
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        data = a.data_dir or tmp
        if not a.data_dir:
            subprocess.run([sys.executable, "-m", "rag.cli", "--data-dir", data, "ingest", str(ROOT / "corpus")],
                           check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        runs: dict[Path, list[dict]] = {tree: [] for tree in trees}
        for _ in range(a.rounds):
            for tree in trees:
                runs[tree].append(one_start(data, tree))
    out = {str(tree): {"rounds": rows, "ready_s_median": statistics.median(r["ready_s"] for r in rows),
                       "first_answer_s_median": statistics.median(r["first_answer_s"] for r in rows),
                       "cpu_s_median": statistics.median(r["cpu_s"] for r in rows)} for tree, rows in runs.items()}
    out["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
