"""The CI gate: minimum / maximum values for run metrics, from a JSON file and/or flags.

File format (evals/gate.json):  {"min": {"must_include": 0.8, ...}, "max": {"false_refusal_rate": 0.1, ...}}
Flags:  --min NAME=VALUE  --max NAME=VALUE  (repeatable; they override the file's value for NAME).
A threshold on a metric the run did not measure (e.g. no unanswerable questions) fails: the gate
should not pass by accident.
"""
from __future__ import annotations

import json
from pathlib import Path

from rag import RagError

from .metrics import RATES, STAGES

KNOWN = set(RATES) | {"answer_words"} | {f"latency_{s}_{p}_ms" for s in STAGES for p in ("p50", "p95")}


def _pair(text: str) -> tuple[str, float]:
    name, sep, value = str(text).partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise RagError(f"bad threshold '{text}': write NAME=NUMBER, e.g. --min must_include=0.8") from None


def load(path: str | Path | None = None, mins: list[str] | None = None, maxs: list[str] | None = None) -> dict:
    """{"min": {name: value}, "max": {name: value}}; empty dict when no threshold is given."""
    th = {"min": {}, "max": {}}
    if path:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise RagError(f"cannot read the gate file {path}: {e}") from None
        for side in ("min", "max"):
            th[side].update({k: float(v) for k, v in (data.get(side) or {}).items()})
    for side, flags in (("min", mins), ("max", maxs)):
        th[side].update(_pair(f) for f in flags or [])
    unknown = sorted(n for side in th.values() for n in side if n not in KNOWN)
    if unknown:
        raise RagError(f"unknown metric(s) in the gate: {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
    return th if th["min"] or th["max"] else {}


def check(values: dict, thresholds: dict) -> list[dict]:
    """One entry per threshold: name, op, threshold, value, ok, message."""
    out = []
    for side, op in (("min", ">="), ("max", "<=")):
        for name, limit in sorted((thresholds.get(side) or {}).items()):
            value = values.get(name)
            ok = value is not None and (value >= limit if side == "min" else value <= limit)
            shown = "not measured" if value is None else f"{value:.4g}"
            out.append({"name": name, "op": op, "threshold": limit, "value": value, "ok": ok,
                        "message": f"{name} = {shown}, needs {op} {limit:g}"})
    return out
