"""Calibrate the refusal threshold (Settings.refuse_below) on an eval set.

Runs every question with refusal switched off, records the best evidence score, and picks the
threshold that maximises balanced accuracy = (share of unanswerable refused + share of answerable
answered) / 2, taking the midpoint of the best interval. Usage:
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


def pick_threshold(scored: list[tuple[float, bool, str]]) -> tuple[float, float]:
    """(threshold, balanced accuracy): the midpoint between the two scores bounding the best cut."""
    values = sorted({s for s, _, _ in scored})
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
    pos = [s for s, ok, _ in scored if ok]
    neg = [s for s, ok, _ in scored if not ok]

    def balanced(t):
        return (sum(s < t for s in neg) / max(len(neg), 1) + sum(s >= t for s in pos) / max(len(pos), 1)) / 2

    best = max(balanced(t) for t in cuts)
    winners = [t for t in cuts if balanced(t) == best]
    return (winners[0] + winners[-1]) / 2, best


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
