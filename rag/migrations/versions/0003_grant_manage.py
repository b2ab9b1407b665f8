"""Collection managers: a grant may also let its group or user manage the collection (upload, delete and
re-ingest its documents). Existing grants stay ask-only."""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    if "manage" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("grants")}:
        op.add_column("grants", sa.Column("manage", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("manage")
