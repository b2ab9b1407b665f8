"""Feedback log: thumbs up/down (and an optional comment) on answers, in the state database (rag.db)."""
from __future__ import annotations

import csv
import io
import json
import logging
import time

from .db import Database, connect, quoted

log = logging.getLogger(__name__)

VERDICTS = ("up", "down")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula
FIELDS = ("id", "time", "user", "question", "answer", "citations", "verdict", "comment", "collection")


def csv_cell(value):
    """A text cell a spreadsheet will show, never run: a leading = + - @ tab or CR gets a ' before it (OWASP)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def export_rows(rows: list[dict], fields: tuple, fmt: str, flat=lambda key, value: value) -> str:
    """Rows as JSONL (one object a line) or CSV (each cell `flat(key, value)`, then made safe for spreadsheets)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: csv_cell(flat(k, v)) for k, v in r.items()})
        return buf.getvalue()
    raise ValueError(f"format must be csv or jsonl, not {fmt!r}")


class FeedbackLog:
    """Append-only feedback table in the state database; safe to share between threads and replicas."""

    def __init__(self, where, days: int | None = None, anonymous: bool | None = None):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir; RAG_FEEDBACK_DAYS and
        RAG_ANONYMOUS_FEEDBACK then default `days` and `anonymous`) or a data dir. `days`: rows older are purged
        (0: kept for ever); `anonymous`: rows keep no user name."""
        self.db: Database = connect(where)
        self.days = getattr(where, "feedback_days", 0) if days is None else days
        self.anonymous = getattr(where, "anonymous_feedback", False) if anonymous is None else anonymous
        self._purged = 0.0

    def add(self, question: str, answer: str, verdict: str, citations: list | None = None,
            comment: str | None = None, user: str | None = None, collection: str | None = None) -> int:
        """Store one verdict ('up' or 'down'); returns its row id."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        user = None if self.anonymous else user
        row_id = self.db.insert(
            'INSERT INTO feedback (time, "user", question, answer, citations, verdict, comment, collection) '
            "VALUES (:time, :user, :question, :answer, :citations, :verdict, :comment, :collection) RETURNING id",
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), user=user or None,
            question=str(question)[:10_000], answer=str(answer)[:50_000],
            citations=json.dumps(citations or [], ensure_ascii=False), verdict=verdict,
            comment=(comment or "").strip()[:5_000] or None, collection=collection)
        log.info("feedback %s stored (%s)", row_id, verdict)
        if time.time() - self._purged > 3600:
            self.purge()
        return row_id

    def purge(self) -> int:
        """Drop rows older than the retention (RAG_FEEDBACK_DAYS); returns how many went."""
        self._purged = time.time()
        if not self.days:
            return 0
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - self.days * 86400))
        gone = self.db.execute("DELETE FROM feedback WHERE time < :before", before=before)
        if gone:
            log.info("feedback: %d rows older than %d days removed", gone, self.days)
        return gone

    def comment(self, row_id: int, comment: str, user: str | None = None) -> bool:
        """Add a comment to a stored verdict (the chat stores the verdict on the click, the comment after);
        only the same user's row (None: rows without a user, as every row is with RAG_ANONYMOUS_FEEDBACK)."""
        user = None if self.anonymous else user
        who = '"user" = :user' if user else '"user" IS NULL'
        return self.db.execute(f"UPDATE feedback SET comment = :comment WHERE id = :id AND {who}",
                               comment=(comment or "").strip()[:5_000] or None, id=row_id, user=user or None) > 0

    def rows(self) -> list[dict]:
        """Every stored verdict, oldest first; `citations` decoded from JSON."""
        out = self.db.rows(f"SELECT {', '.join(map(quoted, FIELDS))} FROM feedback ORDER BY id")
        for r in out:
            r["citations"] = json.loads(r["citations"] or "[]")
        return out

    def export(self, fmt: str = "jsonl") -> str:
        """All rows as JSONL (one object a line) or CSV (citations as a JSON string)."""
        return export_rows(self.rows(), FIELDS, fmt,
                           lambda k, v: json.dumps(v, ensure_ascii=False) if k == "citations" else v)
