"""Reversals that come before their payment (db/payments.py): held, then applied by ``record`` in the
transaction that records the payment, exactly once, whichever way the payment is recorded and however
the two race; on Postgres and SQLite."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from db import ledger, payments
from db.models import HeldReversal, Provider
from db.session import Database
from tests.db.conftest import NewUser


async def _record(db: Database, user_id: int, charge_id: str, **refs: str) -> payments.Recorded:
    async with db.transaction() as session:
        return await payments.record(
            session,
            provider=Provider.STRIPE,
            charge_id=charge_id,
            user_id=user_id,
            amount=199,
            currency="usd",
            credits=10,
            **refs,
        )


async def _reverse(db: Database, *, intent: str | None, charge: str | None) -> payments.Reversal | None:
    async with db.transaction() as session:
        return await payments.reverse_stripe(
            session,
            event_id=f"evt_{uuid.uuid4().hex}",
            event_type="charge.refunded",
            intent=intent,
            charge=charge,
        )


async def test_a_held_reversal_is_applied_when_the_payment_is_recorded(
    db: Database, new_user: NewUser
) -> None:
    user_id = await new_user(balance=2)
    tag = uuid.uuid4().hex[:10]
    # Telegram's card payment knows only the charge; the refund names the charge and an intent.
    assert await _reverse(db, intent=f"pi_{tag}", charge=f"ch_{tag}") is None
    assert await _reverse(db, intent=None, charge=f"ch_{tag}") is None  # and a dispute of it

    recorded = await _record(db, user_id, f"tg_{tag}", stripe_charge=f"ch_{tag}")
    assert recorded.reversal is not None and recorded.reversal.changed
    assert (recorded.reversal.taken, recorded.balance) == (10, 2)
    assert (recorded.payment.status, recorded.payment.credits_reversed) == ("refunded", 10)
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 2
        held = list(
            await session.scalars(select(HeldReversal).where(HeldReversal.stripe_charge == f"ch_{tag}"))
        )
        assert len(held) == 2 and all(h.payment_id == recorded.payment.id for h in held)

    again = await _record(db, user_id, f"tg_{tag}", stripe_charge=f"ch_{tag}")
    assert again.replayed and again.reversal is None
    assert (await _reverse(db, intent=None, charge=f"ch_{tag}")) is not None  # found now: reversed before
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 2


async def test_a_payment_without_a_held_reversal_is_credited(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    tag = uuid.uuid4().hex[:10]
    assert await _reverse(db, intent=f"pi_other_{tag}", charge=None) is None  # another payment's
    recorded = await _record(db, user_id, f"cs_{tag}", stripe_intent=f"pi_{tag}")
    assert recorded.reversal is None and recorded.balance == 10


async def test_a_payment_recorded_many_times_at_once_is_reversed_once(
    db: Database, new_user: NewUser
) -> None:
    user_id = await new_user()
    tag = uuid.uuid4().hex[:10]
    assert await _reverse(db, intent=f"pi_{tag}", charge=f"ch_{tag}") is None
    results = await asyncio.gather(
        *(_record(db, user_id, f"cs_{tag}", stripe_intent=f"pi_{tag}") for _ in range(10))
    )
    assert [r.reversal is not None for r in results].count(True) == 1
    assert [r.replayed for r in results].count(False) == 1
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 0


async def test_a_payment_recorded_while_its_reversal_is_being_held_sees_it(
    db: Database, new_user: NewUser
) -> None:
    """The reversal's transaction is still open when the payment comes: the payment waits for it (and
    then applies it) instead of missing a row it cannot see yet."""
    user_id = await new_user()
    tag = uuid.uuid4().hex[:10]
    async with db.transaction() as holding:
        held = await payments.reverse_stripe(
            holding, event_id=f"evt_{tag}", event_type="charge.refunded", intent=f"pi_{tag}", charge=None
        )
        assert held is None
        paying = asyncio.create_task(_record(db, user_id, f"cs_{tag}", stripe_intent=f"pi_{tag}"))
        await asyncio.sleep(0.3)
        assert not paying.done()  # waiting for the reversal to commit
    recorded = await paying
    assert recorded.reversal is not None and recorded.balance == 0


async def test_a_reversal_held_while_its_payment_is_being_recorded_sees_it(
    db: Database, new_user: NewUser
) -> None:
    """The payment's transaction is still open when the reversal comes: the reversal waits for it and
    then reverses the payment, instead of holding itself for a payment that has already landed."""
    user_id = await new_user()
    tag = uuid.uuid4().hex[:10]
    async with db.transaction() as paying:
        await payments.record(
            paying,
            provider=Provider.STRIPE,
            charge_id=f"cs_{tag}",
            user_id=user_id,
            amount=199,
            currency="usd",
            credits=10,
            stripe_intent=f"pi_{tag}",
        )
        reversing = asyncio.create_task(_reverse(db, intent=f"pi_{tag}", charge=f"ch_{tag}"))
        await asyncio.sleep(0.3)
        assert not reversing.done()  # waiting for the payment to commit
    reversal = await reversing
    assert reversal is not None and reversal.changed and reversal.taken == 10
    async with db.session() as session:
        assert await ledger.balance(session, user_id) == 0


async def test_held_reversals_that_never_meet_a_payment_are_dropped_after_the_hold(
    db: Database, new_user: NewUser
) -> None:
    stale_intent, fresh_intent = f"pi_{uuid.uuid4().hex}", f"pi_{uuid.uuid4().hex}"
    await _reverse(db, intent=stale_intent, charge=None)
    await _reverse(db, intent=fresh_intent, charge=None)
    async with db.transaction() as session:
        held = await session.scalar(select(HeldReversal).where(HeldReversal.stripe_intent == stale_intent))
        assert held is not None
        later = held.received_at + payments.HELD_FOR + timedelta(seconds=1)
        # Only those received before the cutoff go; the fresh one was received at about the same time,
        # so it is moved into the future to stay.
        await session.execute(
            update(HeldReversal).where(HeldReversal.stripe_intent == fresh_intent).values(received_at=later)
        )
        assert await payments.drop_unmatched_held(session, later) >= 1
    async with db.session() as session:
        left = set(await session.scalars(select(HeldReversal.stripe_intent)))
    assert stale_intent not in left and fresh_intent in left
    # The fresh one is still applied when its payment lands.
    user_id = await new_user(balance=0)
    recorded = await _record(db, user_id, f"cs_{uuid.uuid4().hex}", stripe_intent=fresh_intent)
    assert recorded.reversal is not None and recorded.balance == 0
