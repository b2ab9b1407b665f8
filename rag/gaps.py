"""The knowledge-gap report: questions the sources could not answer (refused, from the audit log) and answers
rated down (from the feedback log), grouped by similar question, with counts, dates and what was cited; any
group can become an eval case (a line of the `rag eval` dataset format)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from .feedback import export_rows

SIMILAR = 0.6   # token-set Jaccard at which two questions are one group
FIELDS = ("id", "question", "refused", "down", "count", "first", "last", "collections", "cited", "comments", "asked")
_WORD = re.compile(r"[^\W_]+", re.U)
_STOP = frozenset("a an and are at be by can did do does for from had has have how i in is it its me my of on or "
                  "our should so that the their there this to was we were what when where which who why will with "
                  "would you your".split())


def terms(question: str) -> frozenset[str]:
    """A question's content words (lower case, no stop words, a plural's final s dropped)."""
    words = (w.lower() for w in _WORD.findall(question or ""))
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in _STOP)


def _similar(a: frozenset, b: frozenset) -> bool:
    return bool(a or b) and len(a & b) / len(a | b) >= SIMILAR


def report(audit_rows: list[dict], feedback_rows: list[dict], since: str | None = None) -> list[dict]:
    """Groups of similar unanswered or down-rated questions, most frequent first. Each: id (stable for its
    lead question), question (the most asked wording), refused and down counts, count, first and last time,
    collections, cited sources, comments, and every wording asked."""
    items = [{"question": r["question"], "time": r["time"], "collection": r["collection"], "kind": "refused",
              "cited": [c["source"] for c in r["citations"] or []], "comment": None}
             for r in audit_rows if r["action"] == "ask" and r["refused"] and r["question"]]
    items += [{"question": r["question"], "time": r["time"], "collection": r["collection"], "kind": "down",
               "cited": [c.get("source") for c in r["citations"] if c.get("source")], "comment": r["comment"]}
              for r in feedback_rows if r["verdict"] == "down"]
    groups: list[tuple[frozenset, list[dict]]] = []
    for item in sorted((i for i in items if not since or i["time"] >= since), key=lambda i: i["time"]):
        key = terms(item["question"])
        home = next((g for k, g in groups if _similar(key, k)), None)
        if home is None:
            groups.append((key, [item]))
        else:
            home.append(item)
    out = []
    for _, members in groups:
        wordings = Counter(" ".join(m["question"].split()) for m in members)
        lead = wordings.most_common(1)[0][0]
        out.append({"id": "gap-" + hashlib.sha256(lead.lower().encode()).hexdigest()[:10], "question": lead,
                    "refused": sum(m["kind"] == "refused" for m in members),
                    "down": sum(m["kind"] == "down" for m in members), "count": len(members),
                    "first": members[0]["time"], "last": members[-1]["time"],
                    "collections": sorted({m["collection"] or "" for m in members}),
                    "cited": [s for s, _ in Counter(s for m in members for s in m["cited"]).most_common(5)],
                    "comments": [m["comment"] for m in members if m["comment"]], "asked": sorted(wordings)})
    out.sort(key=lambda g: g["last"], reverse=True)    # the most recent first among equally frequent ones
    return sorted(out, key=lambda g: -g["count"])


def collection_report(audit, feedback, collection: str, default: str) -> list[dict]:
    """One collection's gaps from an AuditLog and a FeedbackLog, each purged of rows past its retention first;
    feedback given without a collection counts for `default`, the collection such an answer came from."""
    audit.purge()
    feedback.purge()
    down = [r for r in feedback.rows() if r["verdict"] == "down" and (r["collection"] or default) == collection]
    return report(audit.rows(refused_in=collection), down)


def dataset(settings, collection: str) -> Path:
    """The eval dataset the gap page appends a collection's cases to: RAG_GAPS_EVAL_DIR/COLLECTION.jsonl
    (unset: DATA_DIR/evals/COLLECTION.jsonl); `collection` must be a valid collection name."""
    return Path(settings.gaps_eval_dir or Path(settings.data_dir) / "evals") / f"{collection}.jsonl"


def case_ids(path: Path) -> set[str]:
    """Ids of the cases in a dataset file (none if it does not exist; lines that are not JSON skipped)."""
    try:
        return _ids(path.read_text("utf-8"))
    except FileNotFoundError:
        return set()


def _ids(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        try:
            out.add(json.loads(line).get("id"))
        except (ValueError, AttributeError):
            continue
    return out


def add_case(path: Path, group: dict) -> bool:
    """Append a gap's eval case to a dataset file unless a case with its id is in it already; True if appended.
    Locked, so two managers adding at once write one line each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        if group["id"] in _ids(text):
            return False
        f.write(("\n" if text and not text.endswith("\n") else "") + json.dumps(eval_case(group), ensure_ascii=False) + "\n")
        return True


def export(groups: list[dict], fmt: str = "jsonl") -> str:
    """The report as JSONL, or CSV with list cells joined by " | "."""
    return export_rows(groups, FIELDS, fmt, lambda k, v: " | ".join(v) if isinstance(v, list) else v)


def eval_case(group: dict) -> dict:
    """A `rag eval` dataset line for a gap: a refused question is recorded as not answerable (until documents
    that answer it are added: then set "answerable": true and "must_include"); a down-rated one keeps the
    sources it cited and the raters' comments as its reference."""
    case = {"id": group["id"], "question": group["question"]}
    if group["refused"] >= group["down"]:
        case["answerable"] = False
    else:
        case["reference"] = " / ".join(group["comments"])
        case["sources"] = [s.replace("\\", "/").rsplit("/", 1)[-1] for s in group["cited"][:3]]
    return case
