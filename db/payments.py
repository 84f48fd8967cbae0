"""Payments: one row per provider charge; recording the same charge again credits nothing.

A Stripe payment also keeps Stripe's ids (``stripe_intent``, ``stripe_charge``, indexed), which is how
refunds and disputes find it. Stripe does not order its events, so a refund or dispute can come before
the payment it names: ``reverse_stripe`` then keeps it as a held reversal, and ``record`` applies it
in the transaction that records that payment (the credits never show). Both take a lock on the ids
first, so a reversal and its payment arriving together are serialised and neither misses the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db import ledger
from db.base import utcnow
from db.errors import PaymentNotFound
from db.ledger import Posting
from db.models import HeldReversal, Payment, PaymentStatus, Provider, Reason, User
from db.sql import insert_ignore, lock_keys


def purchase_key(provider: Provider | str, charge_id: str) -> str:
    return f"pay:{Provider(provider).value}:{charge_id}"


def reversal_key(provider: Provider | str, charge_id: str) -> str:
    return f"refund:{purchase_key(provider, charge_id)}"


@dataclass(frozen=True, slots=True)
class Recorded:
    payment: Payment
    posting: Posting | None  # None only for a replay whose user has since used /forget
    replayed: bool
    # A refund or dispute that came first, applied now: the credits went back in the same transaction.
    reversal: Reversal | None = None

    @property
    def balance(self) -> int | None:
        """The payer's balance right after this record (and its held reversal); None when unknown."""
        if self.reversal is not None and self.reversal.posting is not None:
            return self.reversal.posting.balance_after
        return self.posting.balance_after if self.posting is not None else None


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
    stripe_intent: str | None = None,
    stripe_charge: str | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Store a paid charge and credit ``credits`` once (ledger key ``pay:<provider>:<charge_id>``).

    The same charge again (a retried webhook, a duplicated update, even after the payer used /forget)
    returns the first record and credits nothing. A Stripe payment's reversal held before it (same
    intent or charge id) is applied at once, in this transaction, and reported in ``reversal``.
    """
    provider = Provider(provider)
    now = now or utcnow()
    key = purchase_key(provider, charge_id)
    stripe = provider is Provider.STRIPE and bool(stripe_intent or stripe_charge)
    if stripe:  # before the insert: a reversal being held right now commits first, or waits for this
        await lock_keys(session, *_ref_locks(stripe_intent, stripe_charge))
    values = {
        "provider": provider.value,
        "charge_id": charge_id,
        "user_id": user_id,
        "amount": amount,
        "currency": currency.upper(),
        "credits": credits,
        "status": PaymentStatus.PAID.value,
        "payload": dict(payload) if payload is not None else None,
        "stripe_intent": stripe_intent if provider is Provider.STRIPE else None,
        "stripe_charge": stripe_charge if provider is Provider.STRIPE else None,
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
    reversal = await _apply_held(session, payment, now) if stripe else None
    if reversal is not None:
        payment = reversal.payment
    return Recorded(payment, posting, posting is not None and posting.replayed, reversal)


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


# --- Stripe: finding a payment by Stripe's ids, and reversals that came before their payment -----------


async def find_stripe(
    session: AsyncSession, *, intent: str | None = None, charge: str | None = None
) -> Payment | None:
    """The Stripe payment with payment intent ``intent`` or charge id ``charge`` (both indexed)."""
    matches = _matching(Payment.stripe_intent, Payment.stripe_charge, intent, charge)
    if matches is None:
        return None
    return await session.scalar(
        select(Payment)
        .where(Payment.provider == Provider.STRIPE.value, matches)
        .order_by(Payment.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def find_any(session: AsyncSession, reference: str) -> Payment | None:
    """The payment an admin names: by our charge id (a Telegram charge id, a Checkout session id), else
    by Stripe's charge id or payment intent."""
    found = await session.scalar(
        select(Payment)
        # Every provider named: the (provider, charge_id) unique index answers it.
        .where(Payment.provider.in_([p.value for p in Provider]), Payment.charge_id == reference)
        .order_by(Payment.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return found or await find_stripe(session, intent=reference, charge=reference)


async def reverse_stripe(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    intent: str | None,
    charge: str | None,
    now: datetime | None = None,
) -> Reversal | None:
    """A Stripe refund or dispute (event ``event_id``) of the payment with ``intent`` or ``charge``:
    reversed now (``reverse``), or, when no such payment is recorded yet, held for ``record`` to apply
    when it lands (returns None). The caller claims the event in the same transaction."""
    if not (intent or charge):
        raise ValueError("a Stripe reversal names a payment intent or a charge id")
    now = now or utcnow()
    await lock_keys(session, *_ref_locks(intent, charge))
    payment = await find_stripe(session, intent=intent, charge=charge)
    if payment is not None:
        return await reverse(session, Provider.STRIPE, payment.charge_id, now=now)
    values = {
        "event_id": event_id,
        "event_type": event_type[:64],
        "stripe_intent": intent,
        "stripe_charge": charge,
        "received_at": now,
    }
    await session.execute(insert_ignore(session, HeldReversal, values, ["event_id"]))
    return None


HELD_FOR = timedelta(days=30)  # Stripe retries an event for 3 days: a payment never lands this late


async def drop_unmatched_held(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete held reversals that never met their payment within ``HELD_FOR`` (another integration's
    refunds on the same Stripe account, or a payment that never succeeded); how many went."""
    cutoff = (now or utcnow()) - HELD_FOR
    gone = await session.scalars(
        delete(HeldReversal)
        .where(HeldReversal.applied_at.is_(None), HeldReversal.received_at < cutoff)
        .returning(HeldReversal.id)
    )
    return len(list(gone))


async def _apply_held(session: AsyncSession, payment: Payment, now: datetime) -> Reversal | None:
    """Reverse ``payment`` once when reversals of it are held (a refund and a dispute: still once), and
    mark them applied to it."""
    matches = _matching(
        HeldReversal.stripe_intent, HeldReversal.stripe_charge, payment.stripe_intent, payment.stripe_charge
    )
    if matches is None:
        return None
    held = list(
        await session.scalars(
            select(HeldReversal.id)
            .where(HeldReversal.applied_at.is_(None), matches)
            .order_by(HeldReversal.id)
            .with_for_update()
        )
    )
    if not held:
        return None
    reversal = await reverse(session, Provider.STRIPE, payment.charge_id, now=now)
    await session.execute(
        update(HeldReversal)
        .where(HeldReversal.id.in_(held))
        .values(applied_at=now, payment_id=payment.id)
        .execution_options(synchronize_session=False)
    )
    return reversal


def _matching(
    intent_column: InstrumentedAttribute[str | None],
    charge_column: InstrumentedAttribute[str | None],
    intent: str | None,
    charge: str | None,
) -> ColumnElement[bool] | None:
    """``intent_column = intent OR charge_column = charge``, for the ids given; None when neither is."""
    conditions: list[ColumnElement[bool]] = []
    if intent:
        conditions.append(intent_column == intent)
    if charge:
        conditions.append(charge_column == charge)
    return or_(*conditions) if conditions else None


def _ref_locks(intent: str | None, charge: str | None) -> list[str]:
    return [f"stripe:{kind}:{ref}" for kind, ref in (("intent", intent), ("charge", charge)) if ref]


async def for_user(session: AsyncSession, user_id: int, *, limit: int = 20) -> list[Payment]:
    rows = await session.scalars(
        select(Payment).where(Payment.user_id == user_id).order_by(Payment.id.desc()).limit(limit)
    )
    return list(rows)
