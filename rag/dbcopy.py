"""`rag db copy SOURCE`: move the app's state (users, sessions, keys, grants, feedback, audit log) from one
database to another, e.g. from a data dir's SQLite file into the PostgreSQL database replicas will share.

Both are brought to the same schema revision first (rag.db migrates on open), rows are copied in one
transaction into an empty target (a target that has state already is refused: nothing is merged), and
PostgreSQL's id sequences are moved past the copied ids so new rows do not collide."""
from __future__ import annotations

from .db import Database
from .errors import RagError

TABLES = ("users", "sessions", "keys", "grants", "feedback", "audit", "chats", "collection_info")  # rag/migrations
SERIAL = ("feedback", "audit")                                           # tables with an autoincrement id


def copy_state(source: Database, target: Database) -> dict[str, int]:
    """Rows copied per table."""
    import sqlalchemy as sa

    if source.url == target.url:
        raise RagError(f"the source and the target are the same database ({target.url})")
    meta = sa.MetaData()
    tables = {name: sa.Table(name, meta, autoload_with=source.engine) for name in TABLES}
    filled = [t for t in TABLES if target.one(f"SELECT 1 AS x FROM {t} LIMIT 1")]
    if filled:
        raise RagError(f"the target {target.url} already holds state ({', '.join(filled)}); copy into an empty "
                       "database (nothing is merged)")
    counts = {}
    with source.engine.connect() as src, target.engine.begin() as dst:
        for name, table in tables.items():
            rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
            if rows:
                dst.execute(sa.Table(name, sa.MetaData(), autoload_with=dst).insert(), rows)
            counts[name] = len(rows)
        if target.dialect == "postgresql":
            for name in SERIAL:
                dst.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                    f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"))
    return counts
