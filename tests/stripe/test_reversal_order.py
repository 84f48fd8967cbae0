"""Stripe does not order its events: a refund or dispute that comes before the payment it names is held
and applied when the payment lands, in that transaction, so its credits never show. Card payments made
through Telegram's provider token are found by Stripe's charge id. All through the real ``swapbot web``
app with signed events, on Postgres (the Telegram side through the real dispatcher on the same database).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.flows.payments import sign_payload
from bot.pricing import parse_packs
from bot.services import BotConfig
from db import payments as db_payments
from db.models import HeldReversal, LedgerEntry, Payment, PaymentStatus, Provider, Reason, User
from tests.fakes.stripe_server import charge, completed_session, dispute, event
from tests.jobs.squares import SquareEngine
from tests.stripe.conftest import PACKS, Shop
from tests.telegram.conftest import SECRET as TG_SECRET
from tests.telegram.conftest import Person, TelegramHarness, close_tg, open_tg

ARRIVED_REVERSED = (
    "This payment for 10 credits was refunded or disputed before it reached me, so no credits were added. "
    "You have 0 credits."
)


async def _payment(shop: Shop, provider: Provider, charge_id: str) -> Payment:
    async with shop.db.session() as session:
        return await db_payments.get(session, provider, charge_id)


async def _ledger(shop: Shop, user_id: int, reason: Reason) -> list[int]:
    async with shop.db.session() as session:
        rows = await session.scalars(
            select(LedgerEntry.delta)
            .where(LedgerEntry.user_id == user_id, LedgerEntry.reason == reason.value)
            .order_by(LedgerEntry.id)
        )
        return list(rows)


async def _held(shop: Shop, *, intent: str | None = None, charge_id: str | None = None) -> list[HeldReversal]:
    async with shop.db.session() as session:
        rows = await session.scalars(
            select(HeldReversal)
            .where((HeldReversal.stripe_intent == intent) | (HeldReversal.stripe_charge == charge_id))
            .order_by(HeldReversal.id)
        )
        return list(rows)


def _dms(shop: Shop, user: User) -> list[str]:
    channel = shop.discord.dm_channels.get(user.external_id)
    return [p.content or "" for p in shop.discord.posted_to(channel)] if channel else []


async def _session(shop: Shop, buyer: User) -> dict[str, Any]:
    """A Checkout Session our checkout made for ``buyer`` (10 credits), as completed carries it."""
    return completed_session(await shop.session_for(buyer, 10))


async def _assert_reversed_on_arrival(shop: Shop, buyer: User, session: dict[str, Any]) -> None:
    assert await shop.balance(buyer) == 0  # never the pack's 10
    payment = await _payment(shop, Provider.STRIPE, session["id"])
    assert (payment.status, payment.credits_reversed) == (PaymentStatus.REFUNDED.value, 10)
    assert payment.stripe_intent == session["payment_intent"]
    # The purchase and its reversal, in one transaction: +10 and -10, once each.
    assert await _ledger(shop, buyer.id, Reason.PURCHASE) == [10]
    assert await _ledger(shop, buyer.id, Reason.REFUND) == [-10]
    held = await _held(shop, intent=session["payment_intent"])
    assert held and all(h.applied_at is not None and h.payment_id == payment.id for h in held)


@pytest.mark.parametrize("first", ["refund", "dispute"])
async def test_a_reversal_before_completed_means_the_credits_never_show(shop: Shop, first: str) -> None:
    buyer = await shop.buyer("discord")
    session = await _session(shop, buyer)
    intent = session["payment_intent"]
    early = charge(intent, amount=199) if first == "refund" else dispute(intent, amount=199)

    status, body = await shop.post(
        event("charge.refunded" if first == "refund" else "charge.dispute.created", early)
    )
    assert (status, body["outcome"]) == (200, "held")  # Stripe gets its 200: nothing is retried
    assert await shop.balance(buyer) == 0
    (held,) = await _held(shop, intent=intent)
    assert (held.stripe_charge, held.applied_at) == (f"ch_{intent}", None)

    completed = event("checkout.session.completed", session)
    status, body = await shop.post(completed)
    assert (status, body["outcome"]) == (200, "reversed_on_arrival")
    await _assert_reversed_on_arrival(shop, buyer, session)
    # The buyer hears the truth: nothing was added (never "10 credits were added").
    assert _dms(shop, buyer) == [ARRIVED_REVERSED]

    # Completed again, async_payment_succeeded, and the reversal again: nothing more.
    assert (await shop.post(completed))[1]["outcome"] == "replayed"
    assert (await shop.post(event("checkout.session.async_payment_succeeded", session)))[1]["outcome"] == (
        "replayed"
    )
    assert (await shop.post(event("charge.refunded", charge(intent, amount=199))))[1]["outcome"] == "replayed"
    await _assert_reversed_on_arrival(shop, buyer, session)
    assert len(_dms(shop, buyer)) == 1


async def test_a_held_refund_and_dispute_are_applied_once_however_often_completed_comes(shop: Shop) -> None:
    buyer = await shop.buyer("discord")
    session = await _session(shop, buyer)
    intent = session["payment_intent"]
    assert (await shop.post(event("charge.refunded", charge(intent, amount=199))))[1]["outcome"] == "held"
    assert (await shop.post(event("charge.dispute.created", dispute(intent, amount=199))))[1]["outcome"] == (
        "held"
    )

    same = event("checkout.session.completed", session)
    others = [event("checkout.session.completed", session) for _ in range(3)]  # other event ids
    others += [event("checkout.session.async_payment_succeeded", session) for _ in range(2)]
    results = await asyncio.gather(*(shop.post(p) for p in [same, same, same, *others]))
    assert [status for status, _ in results] == [200] * 8
    assert sorted(body["outcome"] for _, body in results) == ["replayed"] * 7 + ["reversed_on_arrival"]
    await _assert_reversed_on_arrival(shop, buyer, session)
    assert len(await _held(shop, intent=intent)) == 2  # both applied, to one reversal
    assert _dms(shop, buyer) == [ARRIVED_REVERSED]


async def test_a_refund_and_its_payment_arriving_together_never_leave_the_credits(shop: Shop) -> None:
    """Whichever commits first, the other sees it: the reversal is applied or applies itself."""
    for _ in range(8):
        buyer = await shop.buyer("discord")
        session = await _session(shop, buyer)
        refund = event("charge.refunded", charge(session["payment_intent"], amount=199))
        results = await asyncio.gather(
            shop.post(event("checkout.session.completed", session)), shop.post(refund)
        )
        assert sorted(body["outcome"] for _, body in results) in (
            ["credited", "reversed"],
            ["held", "reversed_on_arrival"],
        )
        assert await shop.balance(buyer) == 0
        payment = await _payment(shop, Provider.STRIPE, session["id"])
        assert (payment.status, payment.credits_reversed) == (PaymentStatus.REFUNDED.value, 10)


# --- card payments made in Telegram with the Stripe provider token ---------------------------------------


@pytest.fixture
async def tg(shop: Shop) -> AsyncIterator[TelegramHarness]:
    """The Telegram bot on the shop's database, selling packs by card through the provider token."""
    config = BotConfig(
        secret_key=TG_SECRET, packs=parse_packs(PACKS), stripe_provider_token="284685063:TEST:fake"
    )
    harness = await open_tg(shop.db, shop.telegram, SquareEngine(), config=config)
    try:
        yield harness
    finally:
        await close_tg(harness)


async def _card_payment(
    tg: TelegramHarness, person: Person, stripe_charge: str
) -> tuple[dict[str, Any], str]:
    """A successful_payment for the 10-credit pack in USD, made with Stripe charge ``stripe_charge``."""
    user = await person.user()
    telegram_charge = f"tgCard{uuid.uuid4().hex[:12]}"
    payload = sign_payload(TG_SECRET, 10, user.id)
    update = person.paid(payload, 199, telegram_charge, "USD", provider_charge_id=stripe_charge)
    return update, telegram_charge


def _fiat_charge() -> str:
    # ch_fiat_1 of the issue, made unique: the tests share one database, and a charge is one payment.
    return f"ch_fiat_1_{uuid.uuid4().hex[:10]}"


async def test_a_telegram_card_payment_is_reversed_by_its_stripe_charge_once(
    shop: Shop, tg: TelegramHarness
) -> None:
    ana = tg.person("Ana")
    await tg.feed(ana.text("/start"))
    assert await tg.balance(ana) == 3
    ch = _fiat_charge()
    paid, telegram_charge = await _card_payment(tg, ana, ch)
    await tg.feed(paid)
    assert await tg.balance(ana) == 13
    payment = await _payment(shop, Provider.STRIPE, telegram_charge)
    assert (payment.stripe_charge, payment.stripe_intent) == (ch, None)

    # A dispute names the charge (its payment intent is one we never heard of), then a full refund.
    disputed = {**dispute("pi_telegram_unknown", amount=199), "charge": ch}
    status, body = await shop.post(event("charge.dispute.created", disputed))
    assert (status, body["outcome"]) == (200, "reversed")
    assert await tg.balance(ana) == 3
    refunded = charge("pi_telegram_unknown", amount=199, charge_id=ch)
    assert (await shop.post(event("charge.refunded", refunded)))[1]["outcome"] == "replayed"
    assert await tg.balance(ana) == 3
    user = await ana.user()
    assert await _ledger(shop, user.id, Reason.REFUND) == [-10]  # taken back once
    payment = await _payment(shop, Provider.STRIPE, telegram_charge)
    assert (payment.status, payment.credits_reversed) == (PaymentStatus.REFUNDED.value, 10)
    assert "refunded or disputed: 10 credits were taken back" in ana.texts()[-1]


async def test_a_refund_before_the_telegram_card_payment_is_applied_when_it_lands(
    shop: Shop, tg: TelegramHarness
) -> None:
    ben = tg.person("Ben")
    await tg.feed(ben.text("/start"))
    ch = _fiat_charge()
    refunded = {**charge("pi_unused", amount=199, charge_id=ch), "payment_intent": None}
    status, body = await shop.post(event("charge.refunded", refunded))
    assert (status, body["outcome"]) == (200, "held")

    paid, telegram_charge = await _card_payment(tg, ben, ch)
    await tg.feed(paid)
    assert await tg.balance(ben) == 3  # the free credits only: the pack's 10 never show
    assert ben.texts()[-1] == ARRIVED_REVERSED.replace("You have 0 credits", "You have 3 credits")
    payment = await _payment(shop, Provider.STRIPE, telegram_charge)
    assert (payment.status, payment.credits_reversed) == (PaymentStatus.REFUNDED.value, 10)
    (held,) = await _held(shop, charge_id=ch)
    assert held.applied_at is not None and held.payment_id == payment.id

    said = len(ben.texts())
    await tg.feed(paid)  # the same update again: nothing more
    assert await tg.balance(ben) == 3 and len(ben.texts()) == said
    user = await ben.user()
    assert await _ledger(shop, user.id, Reason.REFUND) == [-10]


async def test_the_stripe_lookups_have_their_indexes(shop: Shop) -> None:
    """Refunds and disputes look payments (and held reversals) up by indexed columns, not the payload."""
    async with shop.db.session() as session:
        found = await session.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename IN ('payments', 'held_reversals')")
        )
        names = {row[0] for row in found}
    assert {
        "ix_payments_stripe_intent",
        "ix_payments_stripe_charge",
        "ix_held_reversals_stripe_intent",
        "ix_held_reversals_stripe_charge",
    } <= names
