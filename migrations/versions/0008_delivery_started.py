"""Delivery started: the moment a worker began sending a job's result. From then on the job can no
longer be cancelled (the result is on its way and will be paid for); a retry clears it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("delivering_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("delivering_at")
