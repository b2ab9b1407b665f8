"""Alembic environment: runs on the connection rag.db.Database passes in `config.attributes["connection"]`.

To add a revision: a new file in versions/ with `down_revision` = the previous one, then set rag.db.HEAD."""
from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
