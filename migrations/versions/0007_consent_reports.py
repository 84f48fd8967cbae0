"""Consent and reports: when a user agreed to the terms (and to which version), the message that
carried a job's result (a report names the job by it), and the reports table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("terms_accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("terms_version", sa.String(32), nullable=True))
    op.add_column("jobs", sa.Column("result_message", sa.String(64), nullable=True))
    op.create_table(
        "reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("job_id", sa.String(128), nullable=True),
        sa.Column("reporter_id", BigId, nullable=True),
        sa.Column("owner_id", BigId, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name=op.f("ck_reports_status")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_reports_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["users.id"], name=op.f("fk_reports_reporter_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_reports_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("job_id", "reporter_id", name=op.f("uq_reports_job_id_reporter_id")),
    )
    op.create_index("ix_reports_status_created_at", "reports", ["status", "created_at"])
    op.create_index("ix_reports_owner_id_status", "reports", ["owner_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_reports_owner_id_status", table_name="reports")
    op.drop_index("ix_reports_status_created_at", table_name="reports")
    op.drop_table("reports")
    # SQLite drops a column by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("result_message")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("terms_version")
        batch.drop_column("terms_accepted_at")
