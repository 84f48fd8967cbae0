"""Payments: the same charge recorded many times, even concurrently, credits once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from db import ledger, payments
from db.models import LedgerEntry, Payment
from db.session import Database
from tests.db.conftest import NewUser


async def test_same_payment_recorded_20_times_concurrently_credits_once(
    db: Database, new_user: NewUser
) -> None:
    user_id = await new_user(balance=1)
    charge = f"ch_{user_id}_concurrent"

    async def record() -> payments.Recorded:
        async with db.transaction() as session:
            return await payments.record(
                session,
                provider="stripe",
                charge_id=charge,
                user_id=user_id,
                amount=499,
                currency="usd",
                credits=50,
                payload={"id": charge, "object": "checkout.session"},
            )

    results = await asyncio.gather(*(record() for _ in range(20)))
    assert [r.replayed for r in results].count(False) == 1
    assert len({r.payment.id for r in results}) == 1
    assert all(r.posting is not None and r.posting.key == f"pay:stripe:{charge}" for r in results)
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 51
        count = select(func.count()).select_from(Payment).where(Payment.charge_id == charge)
        assert await session.scalar(count) == 1
        keyed = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.key == f"pay:stripe:{charge}")
        assert await session.scalar(keyed) == 1
    payment = results[0].payment
    assert (payment.amount, payment.currency, payment.credits, payment.status) == (499, "USD", 50, "paid")


async def test_same_charge_id_at_two_providers_are_two_payments(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    async with db.transaction() as session:
        for provider in ("stripe", "telegram_stars"):
            await payments.record(
                session,
                provider=provider,
                charge_id=f"same-{user_id}",
                user_id=user_id,
                amount=100,
                currency="XTR",
                credits=10,
            )
        assert await ledger.balance(session, user_id) == 20


async def test_mark_refunded_once(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    charge = f"stars_{user_id}"
    async with db.transaction() as session:
        await payments.record(
            session,
            provider="telegram_stars",
            charge_id=charge,
            user_id=user_id,
            amount=250,
            currency="XTR",
            credits=25,
        )
    async with db.transaction() as session:
        payment, changed = await payments.mark_refunded(session, "telegram_stars", charge)
        assert changed and payment.status == "refunded" and payment.refunded_at is not None
        first_time = payment.refunded_at
        payment, changed = await payments.mark_refunded(session, "telegram_stars", charge)
        assert not changed and payment.refunded_at == first_time
