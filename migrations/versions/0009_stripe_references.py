"""Stripe references: a Stripe payment's payment intent and charge id as indexed columns (refunds and
disputes name them; they were a JSON search, or not kept at all), filled in for the payments made
before from their payload, and the reversals that came before their payment, kept until it lands.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The payments table as the backfill reads it: Checkout kept the intent, Telegram's card payments
# Stripe's charge id, each under its own payload key.
_payments = sa.table(
    "payments",
    sa.column("provider", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("stripe_intent", sa.String),
    sa.column("stripe_charge", sa.String),
)


def upgrade() -> None:
    op.add_column("payments", sa.Column("stripe_intent", sa.String(255), nullable=True))
    op.add_column("payments", sa.Column("stripe_charge", sa.String(255), nullable=True))
    op.create_index(op.f("ix_payments_stripe_intent"), "payments", ["stripe_intent"])
    op.create_index(op.f("ix_payments_stripe_charge"), "payments", ["stripe_charge"])
    payload = _payments.c.payload
    op.execute(
        _payments.update()
        .where(_payments.c.provider == "stripe")
        .values(
            stripe_intent=sa.func.nullif(payload["payment_intent"].as_string(), ""),
            stripe_charge=sa.func.nullif(payload["provider_charge_id"].as_string(), ""),
        )
    )
    op.create_table(
        "held_reversals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("stripe_intent", sa.String(255), nullable=True),
        sa.Column("stripe_charge", sa.String(255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_id", BigId, nullable=True),
        sa.CheckConstraint(
            "stripe_intent IS NOT NULL OR stripe_charge IS NOT NULL",
            name=op.f("ck_held_reversals_names_a_payment"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_held_reversals_payment_id_payments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_reversals")),
        sa.UniqueConstraint("event_id", name=op.f("uq_held_reversals_event_id")),
    )
    op.create_index(op.f("ix_held_reversals_stripe_intent"), "held_reversals", ["stripe_intent"])
    op.create_index(op.f("ix_held_reversals_stripe_charge"), "held_reversals", ["stripe_charge"])


def downgrade() -> None:
    op.drop_index(op.f("ix_held_reversals_stripe_charge"), table_name="held_reversals")
    op.drop_index(op.f("ix_held_reversals_stripe_intent"), table_name="held_reversals")
    op.drop_table("held_reversals")
    op.drop_index(op.f("ix_payments_stripe_charge"), table_name="payments")
    op.drop_index(op.f("ix_payments_stripe_intent"), table_name="payments")
    # SQLite drops a column by rebuilding the table (the environment runs batch mode there).
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("stripe_charge")
        batch.drop_column("stripe_intent")
