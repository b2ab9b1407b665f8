"""The knowledge-gap report: refused questions and answers rated down, grouped by similar question."""
from __future__ import annotations

import json
import time
from types import SimpleNamespace

from rag import load_settings
from rag.audit import AuditLog
from rag.cli import main
from rag.feedback import FeedbackLog
from rag.gaps import eval_case, export, report, terms


def audit(question, time, refused=True, collection="default", cited=()):
    return {"action": "ask", "question": question, "time": time, "refused": int(refused), "collection": collection,
            "citations": [{"source": s} for s in cited]}


def test_similar_questions_group_with_counts_dates_and_citations():
    rows = [audit("How much will OpenAI invest in UK data centres?", "2026-01-02T10:00:00Z", cited=["a/news.txt"]),
            audit("how much will openai invest in uk data centres", "2026-01-05T10:00:00Z", cited=["a/news.txt"]),
            audit("Who signed it?", "2026-01-03T10:00:00Z", refused=False),             # answered: no gap
            audit("What is the canteen's opening time?", "2026-01-04T10:00:00Z", collection="hr"),
            {"action": "read", "question": None, "time": "2026-01-04T10:00:00Z", "refused": None,
             "collection": "default", "citations": None}]
    feedback = [{"question": "How much will OpenAI invest in the UK data centres?", "time": "2026-01-06T10:00:00Z",
                 "verdict": "down", "collection": "default", "comment": "no figure", "citations": [{"source": "b.txt"}]},
                {"question": "Who signed it?", "time": "2026-01-06T10:00:00Z", "verdict": "up", "collection": None,
                 "comment": None, "citations": []}]
    groups = report(rows, feedback)
    assert [(g["count"], g["refused"], g["down"]) for g in groups] == [(3, 2, 1), (1, 1, 0)]
    top = groups[0]
    assert top["first"] == "2026-01-02T10:00:00Z" and top["last"] == "2026-01-06T10:00:00Z"
    assert top["cited"] == ["a/news.txt", "b.txt"] and top["comments"] == ["no figure"] and len(top["asked"]) == 3
    assert groups[1]["collections"] == ["hr"] and groups[1]["id"].startswith("gap-")
    assert [g["count"] for g in report(rows, feedback, since="2026-01-05")] == [2]
    assert terms("The canteens' opening times?") == terms("canteen opening time")
    assert eval_case(top) == {"id": top["id"], "question": top["question"], "answerable": False}
    assert export(groups, "csv").splitlines()[0] == "id,question,refused,down,count,first,last,collections,cited," \
                                                   "comments,asked"


def test_cli_lists_exports_and_appends_eval_cases(tmp_path, capsys):
    from rag.audit import AuditLog
    from rag.feedback import FeedbackLog

    d = ["--data-dir", str(tmp_path)]
    assert main(["gaps", *d]) == 0 and "no refused questions" in capsys.readouterr().out
    log = AuditLog(tmp_path)
    log._add(action="ask", question="=HYPERLINK(1) How many staff?", refused=1, collection="default", citations="[]")
    FeedbackLog(tmp_path).add("Where is the office?", "In Leeds. [1]", "down", [{"n": 1, "source": "x/report.pdf"}],
                              comment="it moved")
    assert main(["gaps", *d]) == 0
    out = capsys.readouterr().out
    assert "1x (1 refused, 0 rated down)" in out and "comment: it moved" in out and "cited: x/report.pdf" in out
    assert main(["gaps", "--format", "csv", *d]) == 0
    assert "'=HYPERLINK" in capsys.readouterr().out      # a spreadsheet never runs it
    assert main(["gaps", "--format", "jsonl", *d]) == 0
    ids = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    dataset = tmp_path / "gaps.jsonl"
    assert main(["gaps", "--eval", str(dataset), *d]) == 2                    # which ones?
    assert main(["gaps", "--eval", str(dataset), "--id", ids[0], "--id", ids[1], *d]) == 0
    cases = [json.loads(line) for line in dataset.read_text().splitlines()]
    assert {c["question"] for c in cases} == {"=HYPERLINK(1) How many staff?", "Where is the office?"}
    office = next(c for c in cases if c["question"] == "Where is the office?")
    assert office["id"] in ids and (office["reference"], office["sources"]) == ("it moved", ["report.pdf"])
    assert "answerable" not in office   # rated down, not refused: an answerable question answered badly
    capsys.readouterr()
    dataset.write_text(dataset.read_text().rstrip("\n"))     # a hand-edited file without its last newline
    assert main(["gaps", "--eval", str(dataset), "--id", ids[0], *d]) == 0
    assert "0 eval case(s) appended" in capsys.readouterr().out and len(dataset.read_text().splitlines()) == 2
    dataset.write_text(dataset.read_text().splitlines()[0])
    assert main(["gaps", "--eval", str(dataset), "--id", ids[0], "--id", ids[1], *d]) == 0
    out = capsys.readouterr().out
    assert "1 eval case(s) appended" in out and "(1 there already)" in out
    assert [json.loads(line)["id"] for line in dataset.read_text().splitlines()] == [cases[0]["id"], cases[1]["id"]]


def test_retention_and_anonymous_feedback(state, tmp_path):
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 86400))
    log = FeedbackLog(state, days=30, anonymous=True)
    first = log.add("Where is the office?", "In Leeds.", "down", user="ana")
    log.db.execute("UPDATE feedback SET time = :old WHERE id = :id", old=old, id=first)
    log.add("Where is the canteen?", "Floor 2.", "down", user="ana", collection="default")
    assert log.comment(2, "it moved", user="ana")       # rows without a name: the comment still lands
    assert log.purge() == 1
    assert [(r["question"], r["user"], r["comment"]) for r in log.rows()] == [("Where is the canteen?", None, "it moved")]
    assert FeedbackLog(state).days == 0                  # default: kept for ever, names kept
    audit = AuditLog(state, anonymous=True)
    for refused in (True, False):
        audit.asked("ana", "10.0.0.7", "default", SimpleNamespace(question=f"q{refused}", answer="a", refused=refused,
                                                                  citations=[]))
    rows = {r["question"]: (r["user"], r["client"]) for r in audit.rows()}
    assert rows == {"qTrue": (None, None), "qFalse": ("ana", "10.0.0.7")}   # refused questions: nobody's
    from_settings = FeedbackLog(load_settings(data_dir=tmp_path, feedback_days=7, anonymous_feedback=True))
    assert (from_settings.days, from_settings.anonymous) == (7, True)   # RAG_FEEDBACK_DAYS, RAG_ANONYMOUS_FEEDBACK
