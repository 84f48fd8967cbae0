"""Payments: one row per provider charge; recording the same charge again credits nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.base import utcnow
from db.errors import PaymentNotFound
from db.ledger import Posting
from db.models import Payment, PaymentStatus, Provider, Reason, User
from db.sql import insert_ignore


def purchase_key(provider: Provider | str, charge_id: str) -> str:
    return f"pay:{Provider(provider).value}:{charge_id}"


def reversal_key(provider: Provider | str, charge_id: str) -> str:
    return f"refund:{purchase_key(provider, charge_id)}"


@dataclass(frozen=True, slots=True)
class Recorded:
    payment: Payment
    posting: Posting | None  # None only for a replay whose user has since used /forget
    replayed: bool


async def record(
    session: AsyncSession,
    *,
    provider: Provider | str,
    charge_id: str,
    user_id: int,
    amount: int,
    currency: str,
    credits: int,
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Store a paid charge and credit ``credits`` once (ledger key ``pay:<provider>:<charge_id>``).

    The same charge again (a retried webhook, a duplicated update, even after the payer used /forget)
    returns the first record and credits nothing.
    """
    provider = Provider(provider)
    now = now or utcnow()
    key = purchase_key(provider, charge_id)
    values = {
        "provider": provider.value,
        "charge_id": charge_id,
        "user_id": user_id,
        "amount": amount,
        "currency": currency.upper(),
        "credits": credits,
        "status": PaymentStatus.PAID.value,
        "payload": dict(payload) if payload is not None else None,
        "created_at": now,
        "updated_at": now,
    }
    async with session.begin_nested():
        inserted = await session.scalar(
            insert_ignore(session, Payment, values, ["provider", "charge_id"]).returning(Payment.id)
        )
        posting = None
        if inserted is not None:
            posting = await ledger.post(
                session, user_id=user_id, delta=credits, reason=Reason.PURCHASE, key=key, now=now
            )
    payment = await get(session, provider, charge_id)
    if inserted is None:
        entry = await ledger.find(session, key)
        posting = ledger.to_posting(entry, replayed=True) if entry is not None else None
        return Recorded(payment, posting, replayed=True)
    return Recorded(payment, posting, replayed=posting is not None and posting.replayed)


async def get_or_none(session: AsyncSession, provider: Provider | str, charge_id: str) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .where(Payment.provider == Provider(provider).value, Payment.charge_id == charge_id)
        .execution_options(populate_existing=True)
    )


async def get(session: AsyncSession, provider: Provider | str, charge_id: str) -> Payment:
    payment = await get_or_none(session, provider, charge_id)
    if payment is None:
        raise PaymentNotFound(str(provider), charge_id)
    return payment


async def mark_refunded(
    session: AsyncSession, provider: Provider | str, charge_id: str, *, now: datetime | None = None
) -> tuple[Payment, bool]:
    """paid -> refunded; returns the payment and whether it changed now. Taking the credits back is the
    caller's policy (a ``ledger.post`` with its own key), since they may already be spent."""
    now = now or utcnow()
    changed = await session.scalar(
        update(Payment)
        .where(
            Payment.provider == Provider(provider).value,
            Payment.charge_id == charge_id,
            Payment.status == PaymentStatus.PAID.value,
        )
        .values(status=PaymentStatus.REFUNDED.value, refunded_at=now, updated_at=now)
        .returning(Payment.id)
        .execution_options(synchronize_session=False)
    )
    return await get(session, provider, charge_id), changed is not None


@dataclass(frozen=True, slots=True)
class Reversal:
    """The outcome of ``reverse``: ``taken`` credits came back off the balance, ``shortfall`` could not
    (already spent). ``changed`` is False when the payment had been refunded before: nothing moved now."""

    payment: Payment
    taken: int
    shortfall: int
    posting: Posting | None  # the ledger row of the credits taken; None when there were none to take
    changed: bool


async def reverse(
    session: AsyncSession, provider: Provider | str, charge_id: str, *, now: datetime | None = None
) -> Reversal:
    """paid -> refunded, taking the payment's credits back as far as the balance allows (never below 0).

    The ledger row (key ``refund:pay:<provider>:<charge_id>``, reason refund, a negative delta) and the
    payment's ``credits_reversed`` both say how much was taken. A second call changes nothing; on
    Postgres a concurrent one waits for the payment's row lock and then sees it refunded.
    Raises ``PaymentNotFound``.
    """
    now = now or utcnow()
    payment, changed = await mark_refunded(session, provider, charge_id, now=now)
    if not changed:
        taken = payment.credits_reversed or 0
        entry = await ledger.find(session, reversal_key(provider, charge_id))
        posting = ledger.to_posting(entry, replayed=True) if entry is not None else None
        return Reversal(payment, taken, payment.credits - taken, posting, changed=False)
    taken, posting = 0, None
    if payment.user_id is not None:  # None: the payer used /forget and holds no balance any more
        # Locked so that a debit between reading the balance and posting cannot make the post fail.
        balance = await session.scalar(
            select(User.balance).where(User.id == payment.user_id).with_for_update()
        )
        taken = min(payment.credits, balance or 0)
        if taken > 0:
            posting = await ledger.post(
                session,
                user_id=payment.user_id,
                delta=-taken,
                reason=Reason.REFUND,
                key=reversal_key(provider, charge_id),
                now=now,
            )
    await session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(credits_reversed=taken)
        .execution_options(synchronize_session=False)
    )
    payment = await get(session, provider, charge_id)
    return Reversal(payment, taken, payment.credits - taken, posting, changed=True)


async def for_user(session: AsyncSession, user_id: int, *, limit: int = 20) -> list[Payment]:
    rows = await session.scalars(
        select(Payment).where(Payment.user_id == user_id).order_by(Payment.id.desc()).limit(limit)
    )
    return list(rows)
