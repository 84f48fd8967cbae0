"""Initial schema: users, saved faces and their embeddings, the credit ledger, payments, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Literal copies of the model types as of this revision: later model changes must not rewrite history.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("balance", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("free_credits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_banned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        _time("created_at"),
        _time("last_seen_at"),
        sa.CheckConstraint("platform IN ('telegram', 'discord')", name=op.f("ck_users_platform")),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_users_balance_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_users_platform_external_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "identities",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("chip", sa.LargeBinary(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_identities_user_id_name")),
    )
    op.create_index(op.f("ix_identities_user_id"), "identities", ["user_id"])
    op.create_index(
        "uq_identities_one_default",
        "identities",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
        sqlite_where=sa.text("is_default"),
    )
    op.create_table(
        "identity_embeddings",
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("dim > 0", name=op.f("ck_identity_embeddings_dim_positive")),
        sa.CheckConstraint("length(vector) = 4 * dim", name=op.f("ck_identity_embeddings_vector_length")),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_embeddings_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("identity_id", "model", name=op.f("pk_identity_embeddings")),
    )
    op.create_table(
        "ledger",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.CheckConstraint(
            "reason IN ('purchase', 'job', 'refund', 'grant', 'bonus', 'admin')",
            name=op.f("ck_ledger_reason"),
        ),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_ledger_balance_after_non_negative")),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_ledger_delta_non_zero")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ledger_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_key")),
    )
    op.create_index("ix_ledger_user_id_id", "ledger", ["user_id", "id"])
    op.create_table(
        "payments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("charge_id", sa.String(255), nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("refunded_at", nullable=True),
        sa.CheckConstraint("provider IN ('telegram_stars', 'stripe')", name=op.f("ck_payments_provider")),
        sa.CheckConstraint("status IN ('paid', 'refunded')", name=op.f("ck_payments_status")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_non_negative")),
        sa.CheckConstraint("credits > 0", name=op.f("ck_payments_credits_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider", "charge_id", name=op.f("uq_payments_provider_charge_id")),
    )
    op.create_index(op.f("ix_payments_user_id"), "payments", ["user_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_text", sa.Text(), nullable=True),
        sa.Column("deliver_platform", sa.String(16), nullable=True),
        sa.Column("deliver_chat", sa.String(64), nullable=True),
        sa.Column("deliver_message", sa.String(64), nullable=True),
        sa.Column("deliver_token", sa.Text(), nullable=True),
        _time("deliver_token_expires_at", nullable=True),
        sa.Column("result_ref", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("queued_at"),
        _time("started_at", nullable=True),
        _time("heartbeat_at", nullable=True),
        _time("locked_until", nullable=True),
        _time("finished_at", nullable=True),
        _time("delivered_at", nullable=True),
        _time("purged_at", nullable=True),
        sa.CheckConstraint("kind IN ('swap', 'caricature', 'enhance', 'analyze')", name=op.f("ck_jobs_kind")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts_non_negative")),
        sa.CheckConstraint("cost >= 0", name=op.f("ck_jobs_cost_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_status_queued_at", "jobs", ["status", "queued_at"])
    op.create_index("ix_jobs_status_started_at", "jobs", ["status", "started_at"])
    op.create_index(op.f("ix_jobs_user_id"), "jobs", ["user_id"])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes with it.
    for table in ("jobs", "payments", "ledger", "identity_embeddings", "identities", "users"):
        op.drop_table(table)
