"""Chunking throughput on large plain-text files: read (clean text) + chunk, median of N runs.

    python -m evals.benchmarks.chunking [--mb 49] [--runs 3] [--json]

Three generated files: hard-wrapped prose with a heading every 10 paragraphs (--mb MB), one 5 MB line of
words with no sentence end, and one 5 MB "word" with no space at all. Each is written to a temporary
folder, read with rag.documents.read_document and chunked with rag.chunking.chunk_document (defaults:
256 tokens, 40 overlap); the output says seconds (median), MB/s and chunks. Nothing is embedded.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from rag.chunking import chunk_document
from rag.documents import read_document

WORDS = ("the board approved a new data centre in leeds revenue grew by percent staff receive a laptop and "
         "badge security policy memorandum signed").split()


def prose(mb: float, seed: int = 1) -> str:
    rnd, out, size, i = random.Random(seed), [], 0, 0
    while size < mb * 1_000_000:
        lines = [" ".join(rnd.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(rnd.randint(2, 6))]
        block = (f"Section {i}\n\n" if i % 10 == 0 else "") + "\n".join(lines) + "\n\n"
        out.append(block)
        size, i = size + len(block), i + 1
    return "".join(out)


def files(mb: float) -> dict[str, str]:
    rnd = random.Random(2)
    return {"prose.txt": prose(mb),
            "one-line.txt": " ".join(rnd.choice(WORDS) for _ in range(1_000_000))[:5_000_000],
            "no-space.txt": "a" * 5_000_000}


def run(mb: float, runs: int, only: list[str] | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files(mb).items():
            if only and name not in only:
                continue
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            reads, chunks, n = [], [], 0
            for _ in range(runs):
                t0 = time.perf_counter()
                doc = read_document(path, name, "bench")
                t1 = time.perf_counter()
                n = len(chunk_document(doc))
                reads.append(t1 - t0)
                chunks.append(time.perf_counter() - t1)
            sec = statistics.median(r + c for r, c in zip(reads, chunks))
            rows.append({"file": name, "mb": round(len(text.encode()) / 1e6, 1), "seconds": round(sec, 2),
                         "read_s": round(statistics.median(reads), 2), "chunk_s": round(statistics.median(chunks), 2),
                         "mb_per_s": round(len(text.encode()) / 1e6 / sec, 2), "chunks": n, "runs": runs})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=49.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="file names to run (prose.txt one-line.txt no-space.txt)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = run(a.mb, a.runs, a.only)
    if a.json:
        print(json.dumps(rows))
        return
    print("| file | MB | seconds (median) | read s | chunk s | MB/s | chunks |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['mb']} | {r['seconds']} | {r['read_s']} | {r['chunk_s']} | {r['mb_per_s']} | "
              f"{r['chunks']} |")


if __name__ == "__main__":
    main()
