"""Audit log: who asked what, what was answered and cited, who read which source, who was refused.

Rows live in the state database (rag.db) and are kept RAG_AUDIT_DAYS days (0: for ever)."""
from __future__ import annotations

import csv
import io
import json
import logging
import time

from .db import Database, connect, quoted
from .feedback import csv_cell

log = logging.getLogger(__name__)
FIELDS = ("id", "time", "user", "client", "action", "collection", "question", "answer", "refused", "citations",
          "doc_id", "detail")
ACTIONS = ("ask", "read", "denied")



def _now(offset_s: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


class AuditLog:
    def __init__(self, where, days: int = 90, anonymous: bool | None = None):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir; RAG_ANONYMOUS_FEEDBACK then defaults
        `anonymous`) or a data dir. `anonymous`: refused questions are stored without user name and address."""
        self.db: Database = connect(where)
        self.days, self._purged = days, 0.0
        self.anonymous = getattr(where, "anonymous_feedback", False) if anonymous is None else anonymous

    def asked(self, user: str | None, client: str | None, collection: str, answer) -> None:
        """One answered (or refused) question; `answer` is a rag Answer."""
        cites = [{"n": c.n, "source": c.source, "start": c.start, "end": c.end} for c in answer.citations]
        if answer.refused and self.anonymous:     # the gap report's questions: nobody's name on them
            user = client = None
        self._add(user=user, client=client, action="ask", collection=collection, question=answer.question,
                  answer=answer.answer, refused=int(answer.refused), citations=json.dumps(cites, ensure_ascii=False))

    def read(self, user: str | None, client: str | None, collection: str, doc_id: str) -> None:
        self._add(user=user, client=client, action="read", collection=collection, doc_id=doc_id)

    def denied(self, user: str | None, client: str | None, collection: str | None, detail: str,
               question: str | None = None) -> None:
        self._add(user=user, client=client, action="denied", collection=collection, detail=detail[:500],
                  question=(question or "")[:2000] or None)

    def _add(self, **row) -> None:
        row = {"time": _now(), **row}
        self.db.execute(f"INSERT INTO audit ({', '.join(map(quoted, row))}) VALUES ({', '.join(':' + k for k in row)})",
                        **row)
        if time.time() - self._purged > 3600:
            self.purge()

    def purge(self) -> int:
        """Drop rows older than the retention; returns how many went."""
        self._purged = time.time()
        if not self.days:
            return 0
        gone = self.db.execute("DELETE FROM audit WHERE time < :before", before=_now(-self.days * 86400))
        if gone:
            log.info("audit: %d rows older than %d days removed", gone, self.days)
        return gone

    def rows(self, since: str | None = None, refused_in: str | None = None) -> list[dict]:
        """Rows from `since` on, oldest first; with `refused_in`, only the questions refused in that collection."""
        only, params = "", {"since": since or ""}
        if refused_in:
            only, params["collection"] = " AND action = 'ask' AND refused = 1 AND collection = :collection", refused_in
        out = self.db.rows(f"SELECT {', '.join(map(quoted, FIELDS))} FROM audit WHERE time >= :since{only} ORDER BY id",
                           **params)
        for r in out:
            r["citations"] = json.loads(r["citations"]) if r["citations"] else None
            r["refused"] = None if r["refused"] is None else bool(r["refused"])
        return out

    def export(self, fmt: str = "jsonl", since: str | None = None) -> str:
        rows = self.rows(since)
        if fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: csv_cell(json.dumps(v, ensure_ascii=False) if k == "citations" and v else v)
                        for k, v in r.items()})
        return buf.getvalue()
