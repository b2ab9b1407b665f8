"""Feedback log: thumbs up/down (and an optional comment) on answers, in SQLite under RAG_DATA_DIR."""
from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

VERDICTS = ("up", "down")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula
FIELDS = ("id", "time", "user", "question", "answer", "citations", "verdict", "comment", "collection")
_SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,            -- UTC, ISO 8601
    user TEXT,                     -- who gave it, when the front end knows
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,       -- JSON list of the answer's citations
    verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down')),
    comment TEXT,
    collection TEXT
)"""


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
    """Append-only feedback table in `<data_dir>/feedback.sqlite3`; safe to share between threads."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / "feedback.sqlite3"
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def add(self, question: str, answer: str, verdict: str, citations: list | None = None,
            comment: str | None = None, user: str | None = None, collection: str | None = None) -> int:
        """Store one verdict ('up' or 'down'); returns its row id."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        row = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), user or None, str(question)[:10_000],
               str(answer)[:50_000], json.dumps(citations or [], ensure_ascii=False),
               verdict, (comment or "").strip()[:5_000] or None, collection)
        with self._lock, self._connect() as db:
            cur = db.execute("INSERT INTO feedback (time, user, question, answer, citations, verdict, comment, "
                             "collection) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            log.info("feedback %s stored (%s)", cur.lastrowid, verdict)
            return cur.lastrowid

    def comment(self, row_id: int, comment: str, user: str | None = None) -> bool:
        """Add a comment to a stored verdict (the chat stores the verdict on the click, the comment after);
        only the same user's row (None: rows without a user)."""
        with self._lock, self._connect() as db:
            return db.execute("UPDATE feedback SET comment = ? WHERE id = ? AND user IS ?",
                              ((comment or "").strip()[:5_000] or None, row_id, user or None)).rowcount > 0

    def rows(self) -> list[dict]:
        """Every stored verdict, oldest first; `citations` decoded from JSON."""
        with self._lock, self._connect() as db:
            db.row_factory = sqlite3.Row
            out = [dict(r) for r in db.execute(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id")]
        for r in out:
            r["citations"] = json.loads(r["citations"] or "[]")
        return out

    def export(self, fmt: str = "jsonl") -> str:
        """All rows as JSONL (one object a line) or CSV (citations as a JSON string)."""
        return export_rows(self.rows(), FIELDS, fmt,
                           lambda k, v: json.dumps(v, ensure_ascii=False) if k == "citations" else v)
