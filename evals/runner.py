"""`rag eval`: run a question set through the same ask the chat uses, score it, write the report, gate.

Writes into --out: results.jsonl (one line per question, appended as it goes, so Ctrl-C keeps what is
done), report.json (aggregates), report.md and report.html. With --url the questions go to a running
server's POST /api/ask instead of the local index (retrieval metrics need the index, so they are left
out then). With --compare OLD NEW it only compares two earlier runs.
"""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from rag import QuestionError, RagError

from . import gate, metrics, report


def load_dataset(path: str | Path) -> list[dict]:
    """The eval set (DESIGN.md format); an `id` defaults to the line number."""
    path = Path(path)
    packaged = Path(__file__).parent / "datasets" / path.name
    if not path.is_file() and path.parts[-3:-1] == ("evals", "datasets") and packaged.is_file():
        path = packaged                         # the default set, run from outside the repository
    if not path.is_file():
        raise RagError(f"no eval dataset at {path}; give one with --dataset FILE.jsonl")
    items = []
    for no, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise RagError(f"{path}:{no}: not JSON ({e}); each line must be one question object") from None
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise RagError(f'{path}:{no}: a line needs a non-empty "question"')
        item.setdefault("id", no)
        items.append(item)
    if not items:
        raise RagError(f"{path} has no questions")
    return items


class LocalClient:
    """Asks the in-process Rag, and searches with the query the answer retrieved with."""

    def __init__(self, rag, collection: str | None, k: int):
        self.rag, self.collection, self.k = rag, collection, k

    def warm_up(self, question: str) -> None:
        """Load the models and the index before the clock runs (and fail early on a missing collection)."""
        self.rag.search(question, k=1, collection=self.collection)

    def ask(self, question: str, history: list[dict]) -> dict:
        return self.rag.ask(question, history=history, collection=self.collection).to_dict()

    def search(self, question: str, history: list[dict]) -> list[dict]:
        from rag import resolve  # the standalone query rag.ask retrieves with

        hits = self.rag.search(resolve(question, history), k=self.k, collection=self.collection)
        return [h.to_dict() for h in hits]


class HttpClient:
    """POST {url}/api/ask with {question, history, collection}; the answer object comes back."""

    def __init__(self, url: str, collection: str | None, timeout: float = 120.0):
        self.url, self.collection, self.timeout = url.rstrip("/"), collection, timeout

    def ask(self, question: str, history: list[dict]) -> dict:
        body = json.dumps({"question": question, "history": history, "collection": self.collection}).encode()
        req = urllib.request.Request(self.url + "/api/ask", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            if e.code in (400, 413, 422):       # this question was refused as asked; go on
                raise QuestionError(f"server said {e.code}: {detail}") from None
            raise RagError(f"{self.url}/api/ask answered {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise RagError(f"cannot reach {self.url}/api/ask ({getattr(e, 'reason', e)}); is `rag serve` running?") from None

    def warm_up(self, question: str) -> None:
        pass                                    # a served app warms itself up

    def search(self, question: str, history: list[dict]):
        return None


def evaluate_one(client, item: dict, embed) -> dict:
    history = item.get("history") or []
    t0 = time.perf_counter()
    try:
        answer = client.ask(item["question"], history)
    except QuestionError as e:
        return {"id": item["id"], "question": item["question"], "error": str(e)}
    client_ms = (time.perf_counter() - t0) * 1000
    hits = client.search(item["question"], history) if item.get("answerable", True) else None
    m = metrics.score_question(item, answer, hits, embed)
    m["timings_ms"]["client"] = round(client_ms, 1)
    row = {"id": item["id"], "question": item["question"], "answer": answer, "metrics": m}
    if hits is not None:
        row["retrieved"] = [{"rank": h["rank"], "source": h["source"], "start": h["start"], "end": h["end"]}
                            for h in hits]
    return row


def run(items: list[dict], client, embed, results_path: Path) -> tuple[list[dict], bool]:
    """(rows, interrupted): every row is on disk as soon as it is scored."""
    from tqdm import tqdm

    rows, interrupted = [], False
    with results_path.open("w", encoding="utf-8") as f, tqdm(total=len(items), unit="q", desc="eval",
                                                                disable=None, file=sys.stderr) as bar:
        try:
            for item in items:
                row = evaluate_one(client, item, embed)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                rows.append(row)
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
    return rows, interrupted


def read_results(path: Path) -> list[dict]:
    """results.jsonl rows (a torn last line of an interrupted run is skipped)."""
    rows = []
    for line in path.read_text("utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def build_report(rows: list[dict], args, interrupted: bool, started: str, planned: int | None = None) -> dict:
    backends = sorted({r["answer"].get("backend", "?") for r in rows if r.get("answer")})
    return {"dataset": str(args.dataset), "url": getattr(args, "url", None),
            "collection": getattr(args, "collection", None), "k": getattr(args, "k", 10),
            "backend": ",".join(backends), "started": started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "interrupted": interrupted, "planned": planned or len(rows), "support_thresholds": {"lexical": metrics.LEXICAL_MIN,
                                                               "cosine": metrics.COSINE_MIN},
            **metrics.aggregate(rows)}


def write_all(out: Path, rep: dict, rows: list[dict]) -> None:
    (out / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "report.md").write_text(report.markdown(rep, rows), "utf-8")
    (out / "report.html").write_text(report.html_report(rep, rows), "utf-8")


def main(rag, args) -> int:
    if getattr(args, "compare", None):
        from .compare import compare
        return compare(*args.compare)
    thresholds = gate.load(getattr(args, "gate", None), getattr(args, "min", None), getattr(args, "max", None))
    items = load_dataset(args.dataset)
    if getattr(args, "limit", None):
        items = items[:args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url = getattr(args, "url", None)
    args.k = getattr(args, "k", None) or rag.settings.answer_chunks     # the chunks an answer is built from
    client = HttpClient(url, args.collection) if url else LocalClient(rag, args.collection, args.k)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    client.warm_up(items[0]["question"])
    rows, interrupted = run(items, client, rag.embedder.embed, out / "results.jsonl")
    rep = build_report(rows, args, interrupted, started, len(items))
    rep["gate"] = gate.check(rep["metrics"], thresholds) if thresholds else []
    write_all(out, rep, rows)
    print(report.summary(rep))
    print(f"wrote {out}/results.jsonl, report.json, report.md, report.html")
    if interrupted:
        print(f"interrupted after {len(rows)} of {len(items)} questions; the report covers those", file=sys.stderr)
        return 130
    failed = [g for g in rep["gate"] if not g["ok"]]
    for g in failed:
        print(f"GATE FAILED: {g['message']}", file=sys.stderr)
    if thresholds:
        print("gate: " + ("FAILED" if failed else f"passed ({len(rep['gate'])} thresholds)"))
    return 1 if failed else 0
