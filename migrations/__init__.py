"""Alembic environment and revisions; run them with ``db.migrate`` (``swapbot db upgrade``)."""
