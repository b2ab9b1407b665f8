"""Speed of the answer step (after retrieval: candidates, their stored vectors, features, scoring, selection,
citations) on a real-documents collection, and of the clean-text pass at ingest.

    python -m evals.benchmarks.answer_speed [--docs evals/datasets/realdocs] [--dataset FILE] [--repeats 3]

The answer step is `timings_ms["generate"]` of `Rag.ask` (retrieval is `retrieve`); percentiles are the
nearest-rank ones of evals.metrics. Target (issue 9): p50 <= 100 ms, p95 <= 250 ms on a ~300-chunk collection.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rag.api import Rag
from rag.chunking import doc_id_for
from rag.documents import read_document
from rag.settings import load_settings
from evals.metrics import percentile

from .common import OUT, REPO, median, quiet_logging, write_json


def answer_step(docs: Path, questions: list[str], repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        rag = Rag(load_settings(data_dir=Path(tmp)))
        report = rag.ingest([docs])
        rag.ask(questions[0])                      # warm: model, BM25 side
        gen, ret = [], []
        for _ in range(repeats):
            for q in questions:
                t = rag.ask(q).timings_ms
                gen.append(t["generate"])
                ret.append(t["retrieve"])
        return {"chunks": rag.store.count(rag.settings.collection), "documents": len(report.added),
                "questions": len(questions), "repeats": repeats,
                "answer_step_ms": {"p50": round(percentile(gen, 50), 1), "p95": round(percentile(gen, 95), 1)},
                "retrieve_ms": {"p50": round(percentile(ret, 50), 1), "p95": round(percentile(ret, 95), 1)}}


def clean_text_pass(docs: Path, repeats: int) -> dict:
    """Seconds to read every file into clean text (the readers alone), median of repeats."""
    files = sorted(p for p in docs.rglob("*") if p.is_file() and not p.name.startswith("."))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for p in files:
            try:
                read_document(p, str(p), doc_id_for(str(p)))
            except Exception:
                pass
        times.append(time.perf_counter() - t)
    mb = sum(p.stat().st_size for p in files) / 1e6
    return {"files": len(files), "mb": round(mb, 2), "seconds_median": round(median(times), 3)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=Path, default=REPO / "evals" / "datasets" / "realdocs")
    ap.add_argument("--dataset", type=Path, default=REPO / "evals" / "datasets" / "realdocs_dev.jsonl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT / "answer_speed.json")
    a = ap.parse_args(argv)
    quiet_logging()
    questions = [json.loads(line)["question"] for line in a.dataset.read_text("utf-8").splitlines() if line.strip()]
    out = {"answer": answer_step(a.docs, questions, a.repeats), "clean_text": clean_text_pass(a.docs, a.repeats)}
    print(json.dumps(out, indent=1))
    write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
