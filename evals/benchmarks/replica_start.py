"""A replica started against a large collection: seconds from launching `rag serve` to /readyz, to its first
answer, and until its BM25 side is in use, with the BM25 cache cold (a new replica, or the first after an
ingest: the side is rebuilt from Chroma) or warm (RAG_BM25_CACHE holds the current version's file).
Each condition is run once per round, interleaved, and reported as medians; `--waits` compares
RAG_BM25_WAIT values in one run (3600: a question waits for the index, as every version before the
background build did; 2: the default), `--trees` checkouts (e.g. main and a branch: each replica runs that
checkout's code, with a warm cache of its own).

    python -m evals.benchmarks.scale --stages 100000 --keep   # the 100k-chunk collection, as ingest writes it
    python -m evals.benchmarks.replica_start [--rounds 3] [--waits 3600,2] [--trees ../main,.]

The replica reads the scale run's data dir (embedded Chroma, collection `scale`) and asks one SciFact test
claim. A collection built with `scale --no-sentences` (chunks only: faster to build, 1.7 GB against 2.7 GB)
has no sentence rows, which an ingest always writes: the replica then runs with RAG_SENTENCE_VECTORS=false
and each answer embeds its candidate sentences (~1 s at question time), so its first answer is slower than a
real replica's."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .common import OUT, free_port, load_queries, scifact_dir, write_json
from .startup import ROOT, cpu_s, rss_mb, wait_ready

COLLECTION = "scale"


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def sentence_rows(data: Path) -> int:
    """How many sentence rows the scale collection has (0: built with --no-sentences)."""
    from rag.settings import load_settings
    from rag.store import ChromaStore

    return ChromaStore(load_settings(data_dir=data)).count(COLLECTION, "sentences")


def one_start(data: Path, cache: Path, wait: str, question: str, tree: Path = ROOT, fill: bool = False,
              sentences: bool = True) -> dict:
    """One launch; `fill`: keep it running until its BM25 cache file is written (it is counted as loaded first);
    `sentences`: the collection has sentence rows (else RAG_SENTENCE_VECTORS=false)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RAG_LOG_LEVEL": "WARNING", "RAG_COLLECTION": COLLECTION,
           "RAG_BM25_CACHE": str(cache), "RAG_BM25_WAIT": wait, "PYTHONPATH": str(tree)}
    if not sentences:
        env["RAG_SENTENCE_VECTORS"] = "false"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--data-dir", str(data), "serve", "--port", str(port)],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = wait_ready(base, proc, t0, limit=900)
        body = json.dumps({"question": question}).encode()
        req = urllib.request.Request(f"{base}/api/ask", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=900) as r:
            answer = json.loads(r.read())
        first = time.perf_counter() - t0
        while not re.search(r'^rag_bm25_loads_total\{source="(build|cache)"\} [1-9]', get(f"{base}/metrics"), re.M):
            time.sleep(0.25)                            # the background build or load is still going
            if time.perf_counter() - t0 > 900:
                raise SystemExit("the BM25 side was never ready")
        while fill and not any(not p.name.endswith(".tmp") for p in cache.glob("*")):
            time.sleep(0.25)
        return {"ready_s": round(ready, 2), "first_answer_s": round(first, 2),
                "bm25_ready_s": round(time.perf_counter() - t0, 2), "cpu_s": cpu_s(proc.pid), "rss_mb": rss_mb(proc.pid),
                "dense_only": any("meaning-based search alone" in n for n in answer.get("notes", []))}
    finally:
        proc.terminate()
        proc.wait(60)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=OUT / "scale-data", help="the scale run's kept data dir")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--waits", default="3600,2", help="RAG_BM25_WAIT values to compare")
    ap.add_argument("--caches", default="cold,warm", help="BM25 cache states to run")
    ap.add_argument("--trees", default=str(ROOT), help="comma-separated checkouts whose code to run (default: this one)")
    ap.add_argument("--out", type=Path, default=OUT / "replica_start.json")
    a = ap.parse_args(argv)
    if not (a.data_dir / "chroma").is_dir():
        raise SystemExit(f"no scale collection in {a.data_dir}: run "
                         "`python -m evals.benchmarks.scale --stages 100000 --keep` first")
    n_sentences = sentence_rows(a.data_dir)
    print(f"collection {COLLECTION}: {n_sentences} sentence rows", flush=True)
    question = next(iter(load_queries(scifact_dir()).values()))
    waits, trees = a.waits.split(","), [Path(t).resolve() for t in a.trees.split(",")]
    with tempfile.TemporaryDirectory(prefix="replica-start-") as tmp:
        warm = {tree: Path(tmp) / f"warm-{i}" for i, tree in enumerate(trees)}
        if "warm" in a.caches:
            for tree in trees:
                one_start(a.data_dir, warm[tree], waits[0], question, tree, True, n_sentences > 0)   # not reported
        runs: dict[str, list[dict]] = {}
        for r in range(a.rounds):
            for tree, wait, cache in itertools.product(trees, waits, a.caches.split(",")):
                folder = warm[tree] if cache == "warm" else Path(tmp) / f"cold-{r}"
                row = one_start(a.data_dir, folder, wait, question, tree, sentences=n_sentences > 0)
                name = f"{cache} cache, RAG_BM25_WAIT={wait}" + (f", {tree}" if len(trees) > 1 else "")
                runs.setdefault(name, []).append(row)
                print(name, row, flush=True)
                if cache == "cold":
                    shutil.rmtree(folder, ignore_errors=True)
    out = {"conditions": {k: {m: statistics.median(r[m] for r in rows)
                              for m in ("ready_s", "first_answer_s", "bm25_ready_s", "cpu_s", "rss_mb")}
                          | {"dense_only": sum(r["dense_only"] for r in rows), "rounds": rows}
                          for k, rows in runs.items()},
           "sentence_rows": n_sentences, "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}
    write_json(a.out, out)
    print(json.dumps({k: {m: v for m, v in c.items() if m != "rounds"} for k, c in out["conditions"].items()}, indent=2))
    return out


if __name__ == "__main__":
    main()
