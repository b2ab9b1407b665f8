"""The app's own state (users, sessions, keys, access, audit): one SQLite file under the data dir.

Every SQL statement for that state goes through `Database`, so moving it behind a database URL later
touches this module only."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE = "state.sqlite3"


class Database:
    """A thread-safe handle on `<data_dir>/state.sqlite3`; `schema` statements run once on open."""

    def __init__(self, data_dir: str | Path, schema: str = ""):
        self.path = Path(data_dir) / FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if schema:
            self._run(lambda db: db.executescript(schema))

    def _run(self, work):
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            db.row_factory = sqlite3.Row
            try:
                with db:  # commits, or rolls back on an exception
                    return work(db)
            finally:
                db.close()

    def execute(self, sql: str, params: tuple = ()) -> int:
        """Run one write; returns the new row id for an INSERT, else the number of rows changed."""
        def work(db):
            cur = db.execute(sql, params)
            return cur.lastrowid if sql.lstrip().upper().startswith("INSERT") else cur.rowcount
        return self._run(work)

    def rows(self, sql: str, params: tuple = ()) -> list[dict]:
        return self._run(lambda db: [dict(r) for r in db.execute(sql, params)])

    def one(self, sql: str, params: tuple = ()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None
