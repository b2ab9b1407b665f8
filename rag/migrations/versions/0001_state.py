"""The state tables as they were in SQLite before the database URL: feedback, users, sessions, keys,
grants, audit. A table that already exists (an older data dir's state.sqlite3) is kept as it is."""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def tables():
    # sqlite_autoincrement: ids of deleted rows are never reused, as before
    yield "feedback", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.Text, nullable=False),             # UTC, ISO 8601
        sa.Column("user", sa.Text),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.Text, nullable=False),        # JSON list of the answer's citations
        sa.Column("verdict", sa.Text, sa.CheckConstraint("verdict IN ('up', 'down')"), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("collection", sa.Text)], {"sqlite_autoincrement": True}
    yield "users", [
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False)], {}
    yield "sessions", [
        sa.Column("hash", sa.Text, primary_key=True),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("expires", sa.Float, nullable=False)], {}
    yield "keys", [
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("collections", sa.Text, nullable=False),
        sa.Column("origins", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("created", sa.Float, nullable=False)], {}
    yield "grants", [
        sa.Column("collection", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, sa.CheckConstraint("kind IN ('group', 'user')"), primary_key=True),
        sa.Column("name", sa.Text, primary_key=True)], {}
    yield "audit", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.Text, nullable=False),             # UTC, ISO 8601
        sa.Column("user", sa.Text),                             # user name or key:ID; NULL with RAG_AUTH=none
        sa.Column("client", sa.Text),                           # the caller's address
        sa.Column("action", sa.Text, nullable=False),           # ask | read | denied
        sa.Column("collection", sa.Text),
        sa.Column("question", sa.Text),
        sa.Column("answer", sa.Text),
        sa.Column("refused", sa.Integer),
        sa.Column("citations", sa.Text),                        # JSON [{n, source, start, end}] of the answer
        sa.Column("doc_id", sa.Text),                           # the source read
        sa.Column("detail", sa.Text)], {"sqlite_autoincrement": True}


def upgrade():
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, options in tables():
        if name not in existing:
            op.create_table(name, *columns, **options)
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("audit")}
    if "audit_time" not in indexes:
        op.create_index("audit_time", "audit", ["time"])
    op.create_index("sessions_user", "sessions", ["user"])


def downgrade():
    for name, _, _ in tables():
        op.drop_table(name)
