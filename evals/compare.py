"""`rag eval --compare OLD_DIR NEW_DIR`: per-metric deltas and the questions that got worse.

A metric is marked "worse" when it moved the wrong way (latencies: by more than 20 %, to ignore timing
noise). A question regressed when its outcome got worse (a new error, a lost refusal or a new false
refusal, a question that passed and now fails) or one of its scores dropped (token F1 by 0.05 or more).
"""
from __future__ import annotations

import json
from pathlib import Path

from rag import RagError

from .metrics import higher_is_better

# per-question scores compared (name -> smallest drop that counts as a regression)
LATENCY_NOISE = 0.2     # a latency counts as worse only when it grew by more than this share
PER_QUESTION = {"must_include": 1e-9, "token_f1": 0.05, "rr": 1e-9, "citation_precision": 1e-9,
                "citation_recall": 1e-9}


def _load(run_dir: str | Path) -> tuple[dict, dict]:
    d = Path(run_dir)
    if not (d / "report.json").is_file():
        raise RagError(f"{d} holds no report.json; give two output folders of earlier `rag eval` runs")
    from .runner import read_results

    rows = read_results(d / "results.jsonl") if (d / "results.jsonl").is_file() else []
    return json.loads((d / "report.json").read_text("utf-8")), {str(r["id"]): r for r in rows}


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"


def metric_deltas(old: dict, new: dict) -> list[dict]:
    rows = []
    for name in dict.fromkeys([*old["metrics"], *new["metrics"]]):
        a, b = old["metrics"].get(name), new["metrics"].get(name)
        delta = None if a is None or b is None else b - a
        worse = delta is not None and abs(delta) > 1e-9 and ((delta < 0) == higher_is_better(name))
        if worse and name.startswith("latency_"):
            worse = delta > LATENCY_NOISE * a
        rows.append({"name": name, "old": a, "new": b, "delta": delta, "worse": worse})
    return rows


def regressions(old_rows: dict, new_rows: dict) -> list[dict]:
    """Questions (matched by id) whose outcome or a per-question score got worse."""
    out = []
    for qid, new in new_rows.items():
        old = old_rows.get(qid)
        if old is None:
            continue
        why = []
        if new.get("error") and not old.get("error"):
            why.append(f"error: {new['error']}")
        om, nm = old.get("metrics") or {}, new.get("metrics") or {}
        if om and nm:
            if om.get("refusal_correct") and not nm.get("refusal_correct"):
                why.append("false refusal" if nm.get("answerable") else "no longer refuses")
            for name, eps in PER_QUESTION.items():
                a, b = om.get(name), nm.get(name)
                if a is not None and b is not None and a - b >= eps:
                    why.append(f"{name} {a:.2f} → {b:.2f}")
            if not om.get("failures") and nm.get("failures"):
                why.append("now fails: " + "; ".join(nm["failures"]))
        if why:
            out.append({"id": new["id"], "question": new["question"], "why": why})
    return out


def compare(old_dir: str, new_dir: str, out=print) -> int:
    old, old_rows = _load(old_dir)
    new, new_rows = _load(new_dir)
    out(f"{'metric':<28} {'old':>9} {'new':>9} {'delta':>9}")
    for r in metric_deltas(old, new):
        d = "" if r["delta"] is None else f"{r['delta']:+.3f}" if abs(r["delta"]) < 100 else f"{r['delta']:+.0f}"
        out(f"{r['name']:<28} {_fmt(r['old']):>9} {_fmt(r['new']):>9} {d:>9}" + ("  worse" if r["worse"] else ""))
    regs = regressions(old_rows, new_rows)
    out(f"\n{len(regs)} regressed question(s)" + (":" if regs else ""))
    for r in regs:
        out(f"  [{r['id']}] {r['question']}\n      " + "; ".join(r["why"]))
    return 0
