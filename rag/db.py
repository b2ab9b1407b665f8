"""The app's own state (feedback, users, sessions, keys, access grants, audit log) in one database, by URL.

Default: SQLite, `<data_dir>/state.sqlite3` (zero configuration). With RAG_DATABASE_URL pointing at
PostgreSQL (`postgresql://USER:PASSWORD@HOST:5432/NAME`, driver psycopg 3) every replica shares it.
Every SQL statement for that state goes through `Database`: portable SQL (`ON CONFLICT`, `RETURNING`,
`"user"` quoted) with `:name` parameters, run by SQLAlchemy Core. The schema is made and changed by the
Alembic revisions in `rag/migrations/`, applied when a process first opens the database (under a lock, so
replicas starting together migrate once). An older data dir is migrated in place: its tables are kept and
its separate `feedback.sqlite3` is copied into the state database once (then renamed `*.imported`)."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, Unavailable

log = logging.getLogger(__name__)
FILE = "state.sqlite3"
HEAD = "0004"                  # newest revision in rag/migrations/versions (a test checks they agree)
MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7261675F6462      # pg_advisory_lock key of the migration ("rag_db")
_open: dict[str, "Database"] = {}
_open_lock = threading.Lock()


def url_of(where) -> str:
    """The database URL for a Settings (RAG_DATABASE_URL, else SQLite in its data dir) or a data dir."""
    url = getattr(where, "database_url", None)
    if url:
        return url
    data_dir = Path(getattr(where, "data_dir", where))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / FILE).resolve()}"


def quoted(column: str) -> str:
    """A column name as SQL: "user" is a reserved word in PostgreSQL."""
    return '"user"' if column == "user" else column


def connect(where) -> "Database":
    """The process's one `Database` for `where`: a Database (returned as is), a Settings or a data dir."""
    if isinstance(where, Database):
        return where
    url = url_of(where)
    with _open_lock:
        if url not in _open:
            _open[url] = Database(url)
        return _open[url]


def _engine(url: str):
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        raise ConfigError(f"RAG_DATABASE_URL is not a database URL; set it like "
                          "postgresql://USER:PASSWORD@HOST:5432/NAME, or unset it to keep the state in SQLite "
                          "under the data dir") from None
    if u.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
        return sa.create_engine(u, pool_size=4, max_overflow=12, pool_pre_ping=True, pool_recycle=1800,
                                connect_args={"connect_timeout": 10})
    if u.drivername == "sqlite" and u.database:
        return sa.create_engine(u, connect_args={"timeout": 10})
    raise ConfigError(f"RAG_DATABASE_URL={u.render_as_string(hide_password=True)!r}: only PostgreSQL "
                      "(postgresql://USER:PASSWORD@HOST:5432/NAME) is supported; unset it for SQLite under the data dir")


class Database:
    """A thread-safe handle on the state database; the schema is brought to HEAD on open."""

    def __init__(self, url: str):
        self.engine = _engine(url)
        self.url = self.engine.url.render_as_string(hide_password=True)   # safe to show
        self.dialect = self.engine.dialect.name
        self.path = Path(self.engine.url.database) if self.dialect == "sqlite" else None
        self._guard(self._migrate)
        if self.path is not None:
            self._import_legacy_feedback()

    # ------------------------------------------------------------ statements
    def _guard(self, work):
        """Run work(); a database that does not answer becomes Unavailable naming the fix."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        try:
            return work()
        except (OperationalError, InterfaceError) as e:
            if self.dialect == "sqlite" and "locked" in str(e):
                raise
            raise Unavailable(f"the state database {self.url} is not answering ({' '.join(str(e.orig).split())[:200]}); "
                              "start it, or check RAG_DATABASE_URL") from None

    def _run(self, sql: str, params: dict, fetch: bool):
        import sqlalchemy as sa

        def work():
            with self.engine.begin() as conn:   # commits, or rolls back on an exception
                result = conn.execute(sa.text(sql), params)
                return [dict(r._mapping) for r in result] if fetch else result.rowcount
        return self._guard(work)

    def execute(self, sql: str, **params) -> int:
        """Run one write; the number of rows it changed."""
        return self._run(sql, params, fetch=False)

    def insert(self, sql: str, **params) -> int:
        """Run one INSERT ... RETURNING id; the new row's id."""
        return self._run(sql, params, fetch=True)[0]["id"]

    def rows(self, sql: str, **params) -> list[dict]:
        return self._run(sql, params, fetch=True)

    def one(self, sql: str, **params) -> dict | None:
        found = self.rows(sql, **params)
        return found[0] if found else None

    @contextmanager
    def exclusive(self, name: str, busy: str):
        """Hold the lock `name` for every process using this database, on any host: a PostgreSQL advisory lock
        on a connection kept meanwhile (released by the server if the holder dies); Unavailable(busy) when
        another process holds it. On SQLite a no-op: the data dir's own lock keeps writers on it apart."""
        if self.path is not None:
            yield
            return
        import hashlib

        import sqlalchemy as sa

        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not self._guard(lambda: conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()):
                raise Unavailable(busy)
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    def ping(self) -> None:
        """Raise Unavailable unless the database answers (for /readyz)."""
        self.rows("SELECT 1 AS ok")

    # ------------------------------------------------------------ schema
    def revision(self, conn) -> str | None:
        import sqlalchemy as sa

        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def _migrate(self) -> None:
        """Bring the schema to HEAD; Alembic is imported only when there is something to do."""
        with self.engine.connect() as conn:
            if self.revision(conn) == HEAD:
                return
        with self._migration_lock(), self.engine.begin() as conn:
            if self.revision(conn) == HEAD:      # another process migrated while we waited
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            log.info("migrating the state database %s to revision %s", self.url, HEAD)
            command.upgrade(cfg, "head")

    @contextmanager
    def _migration_lock(self):
        """One migrating process at a time: a PostgreSQL advisory lock, or a lock file beside the SQLite file."""
        import sqlalchemy as sa

        if self.path is None:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_ID})
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_ID})
                    conn.commit()
            return
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _import_legacy_feedback(self) -> None:
        """Before the state database, feedback had its own file; copy its rows here once, then rename it."""
        import sqlite3

        old = self.path.with_name("feedback.sqlite3")
        if not old.exists():
            return
        with self._migration_lock():
            if not old.exists():
                return
            src = sqlite3.connect(old)
            try:
                src.row_factory = sqlite3.Row
                has = src.execute("SELECT 1 FROM sqlite_master WHERE name = 'feedback'").fetchone()
                rows = [dict(r) for r in src.execute("SELECT * FROM feedback ORDER BY id")] if has else []
            finally:
                src.close()
            for r in rows:
                self.execute('INSERT INTO feedback (time, "user", question, answer, citations, verdict, comment, '
                             'collection) VALUES (:time, :user, :question, :answer, :citations, :verdict, :comment, '
                             ':collection)', **{k: r.get(k) for k in ("time", "user", "question", "answer", "citations",
                                                                       "verdict", "comment", "collection")})
            old.rename(old.with_name(old.name + ".imported"))
            log.warning("feedback: %d rows moved from %s into %s", len(rows), old, self.path)
