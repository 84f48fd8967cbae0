"""User preferences: the face restorer to run after a swap (None: off), chosen in /settings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("restorer", sa.String(16), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("users") as batch:
        batch.drop_column("restorer")
