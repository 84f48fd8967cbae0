"""One job per photo: a swap whose photo has several faces and no choice ends as ``needs_choice`` (its
credits given back, its faces kept), and the analysed faces keep their detection in photo pixels (key
points, landmarks), so the swap a choice asks for reuses it instead of detecting again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _statuses(values: Sequence[str]) -> str:
    return "status IN ({})".format(", ".join(f"'{value}'" for value in values))


def upgrade() -> None:
    # SQLite changes a CHECK constraint by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), _statuses((*STATUSES, "needs_choice")))
    op.add_column("analysed_faces", sa.Column("kps", sa.JSON(), nullable=True))
    op.add_column("analysed_faces", sa.Column("points", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysed_faces") as batch:
        batch.drop_column("points")
        batch.drop_column("kps")
    # A photo waiting for its choice was refunded already: it ends as cancelled.
    op.execute("UPDATE jobs SET status = 'cancelled' WHERE status = 'needs_choice'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_status"), _statuses(STATUSES))
