"""Saved conversations of the web chat (`chats`; `seq` orders those saved within one second) and what the
chat shows about each collection (`collection_info`). Tables the chat made in a data dir before the
database URL are kept (`seq` added)."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "chats" not in existing:
        op.create_table("chats", sa.Column("id", sa.Text, primary_key=True), sa.Column("owner", sa.Text, nullable=False),
                        sa.Column("title", sa.Text, nullable=False), sa.Column("collection", sa.Text, nullable=False),
                        sa.Column("turns", sa.Text, nullable=False), sa.Column("updated", sa.Text, nullable=False),
                        sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
        op.create_index("chats_owner", "chats", ["owner", "updated"])
    elif "seq" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("chats")}:
        op.add_column("chats", sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
    if "collection_info" not in existing:
        op.create_table("collection_info", sa.Column("collection", sa.Text, primary_key=True),
                        sa.Column("description", sa.Text, nullable=False), sa.Column("examples", sa.Text, nullable=False))


def downgrade():
    op.drop_table("collection_info")
    op.drop_table("chats")
