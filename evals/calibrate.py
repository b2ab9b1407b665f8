"""Calibrate the refusal threshold (Settings.refuse_below) on an eval set.

Runs every question with refusal switched off, records the best evidence score, and picks the
threshold that maximises balanced accuracy = (share of unanswerable refused + share of answerable
answered) / 2, placed in the middle of a gap between scores at least MIN_GAP wide. Usage:
    python -m evals.calibrate [--dataset evals/datasets/corpus_qa.jsonl] [--corpus corpus]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rag import Rag, load_settings


def best_scores(rag: Rag, rows: list[dict]) -> list[tuple[float, bool, str]]:
    out = []
    for row in rows:
        a = rag.ask(row["question"], history=row.get("history"))
        hit = all(any(alt.lower() in a.answer.lower() for alt in ([g] if isinstance(g, str) else g))
                  for g in row.get("must_include", []))
        out.append((max((c.score for c in a.citations), default=0.0), row.get("answerable", True),
                     row["id"] + ("" if hit else "  (answer misses must_include)")))
    return out


MIN_GAP = 0.01   # a threshold must sit at least MIN_GAP/2 from every calibration score, or it is luck


def pick_threshold(scored: list[tuple[float, bool, str]]) -> tuple[float, float]:
    """(threshold, balanced accuracy): the midpoint of the gap between neighbouring scores (at least
    MIN_GAP wide) that gives the best balanced accuracy."""
    values = sorted({s for s, _, _ in scored})
    cuts = [(a + b) / 2 for a, b in zip(values, values[1:]) if b - a >= MIN_GAP]
    pos = [s for s, ok, _ in scored if ok]
    neg = [s for s, ok, _ in scored if not ok]

    def balanced(t):
        return (sum(s < t for s in neg) / max(len(neg), 1) + sum(s >= t for s in pos) / max(len(pos), 1)) / 2

    best = max(cuts, key=balanced)
    return best, balanced(best)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="evals/datasets/corpus_qa.jsonl")
    p.add_argument("--corpus", default="corpus")
    a = p.parse_args()
    rows = [json.loads(line) for line in Path(a.dataset).read_text("utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        rag = Rag(load_settings(data_dir=Path(tmp), refuse_below=0.0))
        rag.ingest([a.corpus])
        scored = best_scores(rag, rows)
    for s, ok, qid in sorted(scored):
        print(f"{s:.3f}  {'answerable  ' if ok else 'UNANSWERABLE'}  {qid}")
    t, acc = pick_threshold(scored)
    print(f"threshold {t:.3f}  balanced accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
