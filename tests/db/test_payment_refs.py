"""Revision 0009: a Stripe payment's intent and charge id become indexed columns, filled in from the
payload of the payments made before it (Checkout kept the intent, Telegram's card payments Stripe's
charge id), and it goes down again; on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db import payments
from db.migrate import downgrade_engine, upgrade_engine
from db.models import Provider
from db.session import create_engine
from tests.db.conftest import create_pg_database, drop_pg_database, pg_url

OLD_PAYMENTS = sa.table(
    "payments",
    sa.column("provider", sa.String),
    sa.column("charge_id", sa.String),
    sa.column("amount", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("credits", sa.Integer),
    sa.column("status", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


@pytest.fixture(params=["postgres", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'refs.db'}"
    else:
        name = await create_pg_database("swapbot_refs")
        url = pg_url(name)
    made = create_engine(url, pool_size=2)
    try:
        yield made
    finally:
        await made.dispose()
        if name is not None:
            await drop_pg_database(name)


def _row(provider: str, charge_id: str, payload: dict[str, object] | None) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "provider": provider,
        "charge_id": charge_id,
        "amount": 199,
        "currency": "USD",
        "credits": 10,
        "status": "paid",
        "payload": payload,
        "created_at": now,
        "updated_at": now,
    }


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns("payments")}
        )


async def test_0009_fills_in_the_stripe_ids_of_older_payments(engine: AsyncEngine) -> None:
    await upgrade_engine(engine, "0008")
    async with engine.begin() as connection:
        await connection.execute(
            OLD_PAYMENTS.insert(),
            [
                _row("stripe", "cs_old", {"payment_intent": "pi_old", "event_id": "evt_1"}),
                _row("stripe", "tgCardOld", {"invoice_user_id": 1, "provider_charge_id": "ch_old"}),
                _row("stripe", "tgCardBare", {"invoice_user_id": 1, "provider_charge_id": None}),
                _row("stripe", "cs_forgotten", None),  # /forget nulled the payload
                _row(
                    "telegram_stars", "stxOld", {"invoice_user_id": 1, "provider_charge_id": "ch_not_stripe"}
                ),
            ],
        )
    await upgrade_engine(engine)

    async with AsyncSession(engine) as session:
        checkout = await payments.find_stripe(session, intent="pi_old")
        card = await payments.find_stripe(session, charge="ch_old")
        assert checkout is not None and (checkout.charge_id, checkout.stripe_charge) == ("cs_old", None)
        assert card is not None and (card.charge_id, card.stripe_intent) == ("tgCardOld", None)
        for charge_id in ("tgCardBare", "cs_forgotten"):
            bare = await payments.get(session, Provider.STRIPE, charge_id)
            assert (bare.stripe_intent, bare.stripe_charge) == (None, None)
        stars = await payments.get(session, Provider.TELEGRAM_STARS, "stxOld")
        assert stars.stripe_charge is None  # only Stripe payments carry Stripe's ids
        assert await payments.find_stripe(session, charge="ch_not_stripe") is None

    await downgrade_engine(engine, "0008")
    assert {"stripe_intent", "stripe_charge"}.isdisjoint(await _columns(engine))
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert "held_reversals" not in tables and "payments" in tables
    await upgrade_engine(engine)
    assert {"stripe_intent", "stripe_charge"} <= await _columns(engine)
