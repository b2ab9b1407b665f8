"""Rate-limit buckets shared by replicas (rag/limits.py SharedLimiter): one row per caller."""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table("rate_limits", sa.Column("name", sa.Text, primary_key=True),
                    sa.Column("tokens", sa.Float, nullable=False),
                    sa.Column("updated", sa.Float, nullable=False))   # the database clock's seconds since the epoch
    op.create_index("rate_limits_updated", "rate_limits", ["updated"])


def downgrade():
    op.drop_table("rate_limits")
