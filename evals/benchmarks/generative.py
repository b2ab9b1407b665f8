"""Generative answers, side by side with the extractive default (issue 10).

    python -m evals.benchmarks.generative overhead            # our time around an instant LLM
    python -m evals.benchmarks.generative quality --model qwen [--limit 40]

overhead: a scripted OpenAI-compatible server on loopback answers at once (it echoes the first sentence of
passage [1], cited), so `total` and `first_token` of `Rag.ask` are our own time: retrieval, passages, prompt
and token budget, the HTTP round trip, parsing the stream and verifying each sentence. Targets: <= 60 ms p50
beyond the LLM's own time, and time to first token = the LLM's + <= 60 ms.

quality: a real llama.cpp server (evals/llm_server.py; `qwen` is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled
by `python -m evals.assemble_qwen`; `smollm2` is the 135M test model) and `rag eval` over corpus_qa and the
real-documents dev set with each backend: correctness (must_include), refusal, citation precision/recall,
sentences dropped, time to first token, generated words per second.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

from evals.metrics import percentile

from .common import OUT, REPO, free_port, write_json

SETS = {"corpus_qa": ("corpus", "corpus_qa.jsonl"),
        "realdocs_dev": ("evals/datasets/realdocs", "realdocs_dev.jsonl")}


def _echo(body: dict) -> str:
    """The first sentence of passage [1], cited: what a faithful model would say."""
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    first = prompt.split("<passages>\n[1] ", 1)[1].split("\n", 1)[1]
    return re.split(r"(?<=[.!?])\s", first.split("\n")[0], maxsplit=1)[0] + " [1]"


def overhead(repeats: int, pace: float) -> dict:
    from rag import Rag, load_settings
    from evals.scripted_llm import ScriptedLLM

    items = [json.loads(line) for line in (REPO / "evals/datasets/corpus_qa.jsonl").read_text().splitlines()]
    questions = [i["question"] for i in items if i.get("answerable", True)]
    llm = ScriptedLLM(respond=_echo, pace=pace)
    out = {"pace_s_per_chunk": pace}
    with tempfile.TemporaryDirectory() as tmp:
        base = Rag(load_settings(data_dir=Path(tmp)))
        base.ingest([REPO / "corpus"])
        for backend in ("extractive", "openai"):
            rag = Rag(load_settings(data_dir=Path(tmp), backend=backend, llm_base_url=f"{llm.url}/v1",
                                    llm_model="scripted", refuse_below=0.0), embedder=base.embedder, store=base.store)
            rag.ask(questions[0])
            total, ours, first = [], [], []
            for _ in range(repeats):
                for q in questions:
                    n = len(llm.served)
                    t = rag.ask(q).timings_ms
                    total.append(t["total"])
                    if len(llm.served) > n and "first_token" in t:   # the LLM's own time: request to last byte
                        start, first_byte, end = llm.served[-1]
                        ours.append(t["total"] - (end - start) * 1000)
                        first.append(t["first_token"] - (first_byte - start) * 1000)
            out[backend] = {"questions": len(total), "total_ms": _pct(total)}
            if ours:
                out[backend] |= {"beyond_llm_ms": _pct(ours), "first_token_beyond_llm_ms": _pct(first)}
    llm.close()
    return out


def _pct(xs: list[float]) -> dict:
    return {"p50": round(percentile(xs, 50), 1), "p95": round(percentile(xs, 95), 1)}


def sample(dataset: str, n: int | None, out: Path) -> Path:
    """n evenly spaced questions of the dataset (answerable and unanswerable alike), or all of them."""
    lines = [line for line in (REPO / "evals/datasets" / dataset).read_text("utf-8").splitlines() if line.strip()]
    if n and n < len(lines):
        lines = [lines[i * len(lines) // n] for i in range(n)]
    out.write_text("\n".join(lines) + "\n", "utf-8")
    return out


def _eval(data: str, dataset: str, out: Path, limit: int | None, env: dict) -> dict:
    from rag.cli import main as cli
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        questions = sample(dataset, limit, Path(data).parent / f"{out.name}.jsonl")
        cli(["--data-dir", data, "eval", "--dataset", str(questions), "--out", str(out)])
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    rep = json.loads((out / "report.json").read_text())
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    m = rep["metrics"]
    speeds = []
    for r in rows:
        a, t = r.get("answer") or {}, (r.get("answer") or {}).get("timings_ms") or {}
        words = sum(len(c["text"].split()) for c in a.get("sentences") or [])
        if "first_token" in t and t["total"] > t["first_token"] and words:
            speeds.append(words / ((t["total"] - t["first_token"]) / 1000))
    keep = ["must_include", "refusal_accuracy", "false_refusal_rate", "citation_precision", "citation_recall",
            "sentences_dropped", "answer_words", "latency_first_token_p50_ms", "latency_total_p50_ms"]
    return {**{k: m.get(k) for k in keep}, "backends": rep.get("backends"), "questions": rep["questions"],
            "words_per_s_p50": percentile(speeds, 50)}


def run_quality(model: str, limit: int | None, sets: list[str]) -> dict:
    from rag.cli import main as cli
    from evals.llm_server import start

    port = free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    proc = start(model, port, OUT / f"llm-{model}.log", ctx=4096)
    out = {"model": model, "limit": limit}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in sets:
                docs, dataset = SETS[name]
                data = str(Path(tmp) / name)
                cli(["--data-dir", data, "ingest", str(REPO / docs)])
                llm = {"RAG_BACKEND": "openai", "RAG_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
                       "RAG_LLM_MODEL": model, "RAG_LLM_TIMEOUT": "300", "RAG_LLM_TEMPERATURE": "0"}
                out[name] = {"extractive": _eval(data, dataset, Path(tmp) / f"{name}-x", limit, {"RAG_BACKEND": "extractive"}),
                             model: _eval(data, dataset, Path(tmp) / f"{name}-g", limit, llm)}
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", choices=["overhead", "quality"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pace", type=float, default=0.02, help="overhead: seconds between 4-character chunks (50/s)")
    ap.add_argument("--model", default="qwen")
    ap.add_argument("--limit", type=int, default=None, help="quality: an evenly spaced sample of this many questions")
    ap.add_argument("--sets", default="corpus_qa,realdocs_dev")
    a = ap.parse_args(argv)
    os.environ.setdefault("RAG_LOG_LEVEL", "WARNING")
    if a.part == "overhead":
        result = overhead(a.repeats, a.pace)
    else:
        result = run_quality(a.model, a.limit, a.sets.split(","))
    write_json(OUT / f"generative-{a.part}.json", result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
