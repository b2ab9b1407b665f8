"""Chunking throughput on large plain-text files: read (clean text) + chunk, median of N runs.

    python -m evals.benchmarks.chunking [--mb 49] [--runs 3] [--json]
    python -m evals.benchmarks.chunking --against main [--rounds 3]   # this checkout and a git revision
    python -m evals.benchmarks.chunking --same-as main                # ... give the same chunks?

Three generated files: hard-wrapped prose with a heading every 10 paragraphs (--mb MB), one 5 MB line of
words with no sentence end, and one 5 MB "word" with no space at all. Each is written to a temporary
folder, read with rag.documents.read_document and chunked with rag.chunking.chunk_document (defaults:
256 tokens, 40 overlap); the output says seconds (median), MB/s and chunks. Nothing is embedded.

--against REF times the prose file with this checkout's rag and with REF's (`git archive`), in alternating
rounds (this script runs in both, so both are timed the same way), and prints each round and the medians.
--same-as REF reads and chunks every file of corpus/, evals/datasets/realdocs*, tests/fixtures and generated
ones (the three above at 5 MB, the segmentation gold set as text, Markdown, Unicode and one long line) with
both, and lists the files whose stored text, blocks, chunks, spans, locators or ids differ (exit status 1).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from rag.chunking import chunk_document
from rag.documents import read_document
from rag.errors import DocumentError

HERE = Path(__file__).resolve().parents[2]      # this checkout

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


def fingerprint(path: Path) -> str:
    """sha256 of what reading and chunking a file gives: stored text and structure, and every chunk's id, span,
    text, locator and sentences at three sizes (with and without a write generation)."""
    try:
        doc = read_document(path, path.name, "d")
    except DocumentError as e:
        return f"skipped: {e}"
    parts = [doc.text, doc.blocks, doc.headings, doc.paragraphs, doc.pages, doc.title, doc.date]
    for size, overlap, gen in ((256, 40, ""), (256, 40, "g1"), (64, 10, ""), (1000, 100, "")):
        parts += [[c.id, c.start, c.end, c.text, c.locator, c.sentences] for c in chunk_document(doc, size, overlap, gen)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def sample_files(folder: Path) -> list[Path]:
    """The checked-in documents, and generated ones written into `folder`."""
    gold = [json.loads(ln)["text"] for ln in open(HERE / "evals/datasets/segmentation_gold.jsonl", encoding="utf-8")]
    rnd = random.Random(3)
    accented = ["".join(rnd.choice(("é", "漢", "😀", c)) if c in "aeo" else c for c in g) for g in gold]
    made = {**files(5), "gold.txt": "\n\n".join(gold), "gold.md": "\n\n".join(gold),
            "unicode.txt": "\n\n".join(accented), "gold-one-line.txt": " ".join(3 * (gold + accented))}
    for name, text in made.items():
        (folder / name).write_text(text, encoding="utf-8")
    roots = [HERE / "corpus", *sorted((HERE / "evals/datasets").glob("realdocs*/")), HERE / "tests/fixtures", folder]
    return [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


def export(ref: str, into: Path) -> Path:
    """rag/ and evals/ of git revision `ref` of this checkout, in a folder of their own."""
    tar = subprocess.run(["git", "archive", ref, "rag", "evals"], cwd=HERE, capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(into, filter="data")
    return into


def run_in(tree: Path, *args: str) -> str:
    """This script's output with `tree`'s rag."""
    return subprocess.run([sys.executable, __file__, *args], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, check=True).stdout


def against(ref: str, mb: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trees = {ref: export(ref, Path(tmp)), "this checkout": HERE}
        times: dict = {name: [] for name in trees}
        print(f"| round | {' | '.join(f'{n}: s (read + chunk)' for n in trees)} | ratio |\n|---|---|---|---|")
        for r in range(rounds):
            for name, tree in trees.items():
                times[name].append(json.loads(run_in(tree, "--mb", str(mb), "--runs", "1", "--only", "prose.txt",
                                                     "--json"))[0])
            a, b = (times[n][-1] for n in trees)
            print(f"| {r + 1} | {a['seconds']} ({a['read_s']} + {a['chunk_s']}) | {b['seconds']} ({b['read_s']} + "
                  f"{b['chunk_s']}) | {b['seconds'] / a['seconds']:.2f} |")
        med = {n: {k: statistics.median(t[k] for t in times[n]) for k in ("seconds", "read_s", "chunk_s")} for n in trees}
        a, b = med.values()
        print(f"| median | {a['seconds']} ({a['read_s']} + {a['chunk_s']}) | {b['seconds']} ({b['read_s']} + "
              f"{b['chunk_s']}) | {b['seconds'] / a['seconds']:.2f} |")


def same_as(ref: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "files").mkdir()
        paths = [str(p) for p in sample_files(Path(tmp) / "files")]
        old, new = (json.loads(run_in(tree, "--fingerprints", *paths)) for tree in (export(ref, Path(tmp)), HERE))
    differ = [p for p in paths if old[p] != new[p]]
    print(f"{len(paths) - len(differ)} of {len(paths)} files read and chunked the same as {ref}" +
          "".join(f"\n  differs: {p}" for p in differ))
    return 1 if differ else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=49.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="file names to run (prose.txt one-line.txt no-space.txt)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--against", metavar="REF", help="time the prose file with this checkout and git revision REF")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds for --against")
    ap.add_argument("--same-as", metavar="REF", help="check every test file reads and chunks the same as with REF")
    ap.add_argument("--fingerprints", nargs="+", metavar="FILE", help=argparse.SUPPRESS)   # what --same-as runs
    a = ap.parse_args()
    if a.fingerprints:
        print(json.dumps({p: fingerprint(Path(p)) for p in a.fingerprints}))
        return
    if a.against:
        return against(a.against, a.mb, a.rounds)
    if a.same_as:
        sys.exit(same_as(a.same_as))
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
