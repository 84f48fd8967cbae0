"""An admin's /refund of a Stripe Checkout payment, through the real Telegram dispatcher: Stripe refunds
it (the fake's ``POST /v1/refunds``), the credits are reversed once, and Stripe's ``charge.refunded``
that follows through the real web app changes nothing more. On Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.pricing import parse_packs
from bot.services import BotConfig, StripeAccount
from db import payments as db_payments
from db.models import PaymentStatus, Provider
from tests.fakes.stripe_server import SECRET_KEY, charge, completed_session, event
from tests.jobs.squares import SquareEngine
from tests.stripe.conftest import PACKS, Shop
from tests.telegram.conftest import SECRET as TG_SECRET
from tests.telegram.conftest import Person, TelegramHarness, close_tg, open_tg

ADMIN_ID = 5_000_000_002


@pytest.fixture
async def tg(shop: Shop) -> AsyncIterator[TelegramHarness]:
    """The Telegram bot on the shop's database, with an admin and the Stripe key of the fake."""
    config = BotConfig(
        secret_key=TG_SECRET,
        packs=parse_packs(PACKS),
        admins=frozenset({("telegram", str(ADMIN_ID))}),
        stripe_account=StripeAccount(SECRET_KEY, shop.fake_stripe.url),
    )
    harness = await open_tg(shop.db, shop.telegram, SquareEngine(), config=config)
    try:
        yield harness
    finally:
        await close_tg(harness)


async def test_admin_refund_of_a_checkout_payment_refunds_through_stripe_once(
    shop: Shop, tg: TelegramHarness
) -> None:
    admin = Person(tg, ADMIN_ID, "Admin")
    ida = tg.person("Ida")
    await tg.feed(ida.text("/start"))
    session = completed_session(await shop.session_for(await ida.user(), 10))
    intent = session["payment_intent"]
    assert (await shop.post(event("checkout.session.completed", session)))[1]["outcome"] == "credited"
    assert await tg.balance(ida) == 13
    shop.fake_stripe.add_charge(f"ch_{intent}", amount=199, payment_intent=intent)

    # Two admins at once: Stripe is asked under one idempotency key (one refund), reversed once.
    await asyncio.gather(
        tg.feed(admin.text(f"/refund {session['id']}")), tg.feed(admin.text(f"/refund {intent}"))
    )
    calls = shop.fake_stripe.refund_requests()
    assert [c.form for c in calls] == [{"payment_intent": intent}] * len(calls)
    assert {c.idempotency_key for c in calls} == {f"swapbot-refund:pay:stripe:{session['id']}"}
    assert len(shop.fake_stripe.refunds) == 1
    assert sorted(admin.texts()[-2:]) == [
        "Refunded 1.99 USD to the card. 10 credits were taken back; 0 had already been spent.",
        "That payment was refunded before: 10 credits were taken back, 0 had been spent.",
    ]
    assert ida.texts()[-1] == "Your card payment of 1.99 USD was refunded. 10 credits were taken back."
    assert await tg.balance(ida) == 3

    # Stripe's webhook for that refund comes later: the payment was reversed already.
    status, body = await shop.post(event("charge.refunded", charge(intent, amount=199)))
    assert (status, body["outcome"]) == (200, "replayed")
    assert await tg.balance(ida) == 3

    await tg.feed(admin.text(f"/refund {session['id']}"))
    assert (
        admin.texts()[-1] == "That payment was refunded before: 10 credits were taken back, 0 had been spent."
    )
    assert len(shop.fake_stripe.refunds) == 1
    async with shop.db.session() as db_session:
        payment = await db_payments.get(db_session, Provider.STRIPE, session["id"])
        assert (payment.status, payment.credits_reversed) == (PaymentStatus.REFUNDED.value, 10)
