"""Alembic revisions of the state database (rag/db.py applies them; HEAD there names the newest)."""
