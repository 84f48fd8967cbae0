"""Payment refunds: how many of the payment's credits a refund took back (the rest had been spent).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("credits_reversed", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("credits_reversed")
