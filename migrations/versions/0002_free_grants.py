"""Free-grant memory: HMAC-SHA256 digests of the platform ids that have had the free credits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Users granted before this revision have no digest (the migration has no key to compute one).
    op.create_table(
        "free_grants",
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.CheckConstraint("length(digest) = 32", name=op.f("ck_free_grants_digest_length")),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_free_grants")),
    )


def downgrade() -> None:
    op.drop_table("free_grants")
