"""Buying credits through the real dispatcher and the fake Bot API: /buy, the Stars invoice, the
pre-checkout answer, crediting once, refunds (Stars through Telegram, card payments through the fake
Stripe API), /paysupport and /terms; on SQLite (the embedded mode) and on Postgres with ARQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import update

from bot.flows.payments import sign_payload
from bot.pricing import Money, Pack
from bot.services import BotConfig, StripeAccount
from db import ledger
from db import payments as db_payments
from db.models import Provider, Reason, User
from db.session import Database
from swapbot.settings import Settings
from swapbot.wiring import bot_config
from tests.fakes import Reply
from tests.fakes.stripe_server import SECRET_KEY as STRIPE_KEY
from tests.fakes.stripe_server import FakeStripe
from tests.fakes.telegram_server import FakeTelegram, bad_request
from tests.telegram.conftest import (
    REDIS_URL,
    SECRET,
    Person,
    TelegramHarness,
    close_tg,
    engine_for,
    open_tg,
)

ADMIN_ID = 5_000_000_001  # the admin's Telegram id (SWAPBOT_ADMIN_IDS=telegram:5000000001)
PACKS = (Pack(10, 100, Money(199, "usd")), Pack(50, 450))
CONFIG = BotConfig(secret_key=SECRET, packs=PACKS, admins=frozenset({("telegram", str(ADMIN_ID))}))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[Database, bool]:
    """SQLite with the in-process runner, or Postgres with ARQ: (database, is Postgres)."""
    postgres = request.param == "postgres"
    return request.getfixturevalue("tg_postgres" if postgres else "tg_sqlite"), postgres


@pytest.fixture
async def shop(
    request: pytest.FixtureRequest, telegram: FakeTelegram, backend: tuple[Database, bool]
) -> AsyncIterator[TelegramHarness]:
    """The bot with packs for sale and an admin."""
    db, postgres = backend
    harness = await open_tg(
        db, telegram, engine_for(request), config=CONFIG, redis_url=REDIS_URL if postgres else None
    )
    try:
        yield harness
    finally:
        await close_tg(harness)


def buttons(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in call["reply_markup"]["inline_keyboard"] for b in row]


async def buy(tg: TelegramHarness, person: Person, credits: int = 10) -> dict[str, Any]:
    """/buy, press the pack's Stars button: the sendInvoice call's fields."""
    await tg.feed(person.text("/buy"))
    menu = tg.telegram.called("sendMessage")[-1]
    data = next(d for text, d in buttons(menu) if text.startswith(f"{credits} credits") and "⭐" in text)
    invoices = len(tg.telegram.called("sendInvoice"))
    await tg.feed(person.press(data, 1000))
    assert len(tg.telegram.called("sendInvoice")) == invoices + 1
    return tg.telegram.called("sendInvoice")[-1]


def last_checkout(tg: TelegramHarness) -> dict[str, Any]:
    return tg.telegram.called("answerPreCheckoutQuery")[-1]


def accepted(answer: dict[str, Any]) -> bool:
    return str(answer["ok"]).lower() == "true"  # form fields arrive as text


async def test_the_whole_stars_payment_credits_once(shop: TelegramHarness) -> None:
    tg = shop
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    assert await tg.balance(alice) == 3

    await tg.feed(alice.text("/buy"))
    assert "You have 3 credits" in alice.texts()[-1]
    labels = [text for text, _ in buttons(tg.telegram.called("sendMessage")[-1])]
    assert labels == ["10 credits · 100 ⭐", "50 credits · 450 ⭐"]  # no provider token: no fiat buttons

    invoice = await buy(tg, alice)
    assert str(invoice["chat_id"]) == str(alice.id)
    assert invoice["currency"] == "XTR"
    # Empty for Stars: aiogram leaves an empty field out of the form, which the Bot API reads the same.
    assert invoice.get("provider_token", "") == ""
    assert len(invoice["prices"]) == 1 and invoice["prices"][0]["amount"] == 100
    payload = invoice["payload"]
    assert payload.startswith(f"pack:10:{(await alice.user()).id}:")

    await tg.feed(alice.pre_checkout(payload, 100))
    assert accepted(last_checkout(tg))

    charge = f"stxWhole{uuid.uuid4().hex[:12]}"
    paid = alice.paid(payload, 100, charge)
    await tg.feed(paid)
    assert await tg.balance(alice) == 13
    assert "10 credits were added" in alice.texts()[-1] and "13 credits" in alice.texts()[-1]
    said = len(alice.texts())

    await tg.feed(paid)  # the same update delivered again
    await tg.feed(alice.paid(payload, 100, charge))  # the same payment in another update and message
    await asyncio.gather(*(tg.feed(alice.paid(payload, 100, charge)) for _ in range(5)))
    assert await tg.balance(alice) == 13
    assert len(alice.texts()) == said  # thanked once
    async with tg.db.session() as session:
        payment = await db_payments.get(session, Provider.TELEGRAM_STARS, charge)
        assert (payment.amount, payment.currency, payment.credits) == (100, "XTR", 10)


async def test_a_first_payment_delivered_concurrently_is_credited_once(shop: TelegramHarness) -> None:
    tg = shop
    bob = tg.person("Bob")
    await tg.feed(bob.text("/start"))
    payload = (await buy(tg, bob, 50))["payload"]
    charge = f"stxRace{uuid.uuid4().hex[:12]}"
    same = bob.paid(payload, 450, charge)
    others = [bob.paid(payload, 450, charge) for _ in range(5)]
    await asyncio.gather(tg.feed(same), tg.feed(same), *(tg.feed(u) for u in others))
    assert await tg.balance(bob) == 53
    assert sum("credits were added" in text for text in bob.texts()) == 1


async def test_pre_checkout_refusals_carry_a_reason(shop: TelegramHarness) -> None:
    tg = shop
    carol = tg.person("Carol")
    await tg.feed(carol.text("/start"))
    payload = (await buy(tg, carol))["payload"]
    user_id = (await carol.user()).id

    await tg.feed(carol.pre_checkout(payload, 90))  # the client claims another price
    assert not accepted(last_checkout(tg)) and "price" in last_checkout(tg)["error_message"]

    unsold = sign_payload(SECRET, 20, user_id)  # signed, but no pack of 20 credits is for sale
    await tg.feed(carol.pre_checkout(unsold, 200))
    assert not accepted(last_checkout(tg)) and "no longer for sale" in last_checkout(tg)["error_message"]

    forged = payload.replace("pack:10:", "pack:50:")
    await tg.feed(carol.pre_checkout(forged, 450))
    assert not accepted(last_checkout(tg)) and "not made by this bot" in last_checkout(tg)["error_message"]

    dave = tg.person("Dave")  # pays with Carol's invoice
    await tg.feed(dave.pre_checkout(payload, 100))
    assert not accepted(last_checkout(tg)) and "someone else" in last_checkout(tg)["error_message"]

    async with tg.db.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(is_banned=True))
    await tg.feed(carol.pre_checkout(payload, 100))
    assert not accepted(last_checkout(tg)) and last_checkout(tg)["error_message"]

    answers = tg.telegram.called("answerPreCheckoutQuery")
    assert len(answers) == 5 and not any(accepted(a) for a in answers)
    assert await tg.balance(carol) == 3


async def test_a_payment_that_arrives_after_a_ban_is_still_credited(shop: TelegramHarness) -> None:
    """The money is taken once Telegram sends successful_payment: a ban between the pre-checkout and the
    payment must not keep it without crediting (an admin can refund instead)."""
    tg = shop
    frank = tg.person("Frank")
    await tg.feed(frank.text("/start"))
    payload = (await buy(tg, frank))["payload"]
    await tg.feed(frank.pre_checkout(payload, 100))
    assert accepted(last_checkout(tg))
    async with tg.db.transaction() as session:
        await session.execute(update(User).where(User.id == (await frank.user()).id).values(is_banned=True))
    charge = f"stxBanned{uuid.uuid4().hex[:12]}"
    await tg.feed(frank.paid(payload, 100, charge))
    assert await tg.balance(frank) == 13
    async with tg.db.session() as session:
        assert await db_payments.get_or_none(session, Provider.TELEGRAM_STARS, charge) is not None


async def test_admin_refund_reverses_what_is_left_and_records_the_shortfall(shop: TelegramHarness) -> None:
    tg = shop
    admin = Person(tg, ADMIN_ID, "Admin")
    erin = tg.person("Erin")
    await tg.feed(erin.text("/start"))
    payload = (await buy(tg, erin))["payload"]
    charge = f"stxRefund{uuid.uuid4().hex[:12]}"
    await tg.feed(erin.paid(payload, 100, charge))
    assert await tg.balance(erin) == 13
    async with tg.db.transaction() as session:  # Erin spends 8 of her 13 credits
        await ledger.post(
            session, user_id=(await erin.user()).id, delta=-8, reason=Reason.JOB, key=f"job:{charge}"
        )

    await tg.feed(erin.text(f"/refund {charge}"))  # not an admin
    assert "Only the bot's admins" in erin.texts()[-1]
    assert tg.telegram.called("refundStarPayment") == []

    await tg.feed(admin.text(f"/refund {charge}"))
    calls = tg.telegram.called("refundStarPayment")
    assert len(calls) == 1
    assert (str(calls[0]["user_id"]), calls[0]["telegram_payment_charge_id"]) == (str(erin.id), charge)
    assert admin.texts()[-1] == "Refunded 100 ⭐. 5 credits were taken back; 5 had already been spent."
    assert await tg.balance(erin) == 0
    assert "was refunded" in erin.texts()[-1]
    async with tg.db.session() as session:
        payment = await db_payments.get(session, Provider.TELEGRAM_STARS, charge)
        assert (payment.status, payment.credits_reversed) == ("refunded", 5)
        reversal = await ledger.find(session, db_payments.reversal_key(Provider.TELEGRAM_STARS, charge))
        assert reversal is not None and (reversal.delta, reversal.balance_after) == (-5, 0)

    await tg.feed(admin.text(f"/refund {charge}"))  # twice: nothing more happens
    assert len(tg.telegram.called("refundStarPayment")) == 1
    assert "refunded before" in admin.texts()[-1]
    assert await tg.balance(erin) == 0


async def test_a_refund_telegram_refuses_changes_nothing(shop: TelegramHarness) -> None:
    tg = shop
    admin = Person(tg, ADMIN_ID, "Admin")
    frank = tg.person("Frank")
    await tg.feed(frank.text("/start"))
    payload = (await buy(tg, frank))["payload"]
    charge = f"stxRefused{uuid.uuid4().hex[:12]}"
    await tg.feed(frank.paid(payload, 100, charge))

    tg.telegram.script("refundStarPayment").push(bad_request("CHARGE_NOT_FOUND"))
    await tg.feed(admin.text(f"/refund {charge}"))
    assert "refused" in admin.texts()[-1] and "CHARGE_NOT_FOUND" in admin.texts()[-1]
    assert await tg.balance(frank) == 13

    tg.telegram.script("refundStarPayment").push(bad_request("CHARGE_ALREADY_REFUNDED"))
    await tg.feed(admin.text(f"/refund {charge}"))  # refunded at Telegram before: finish the reversal
    assert admin.texts()[-1].startswith("Refunded 100 ⭐. 10 credits were taken back")
    assert await tg.balance(frank) == 3

    await tg.feed(admin.text("/refund"))
    assert admin.texts()[-1].startswith("Usage: /refund <id>: a Telegram charge id")


async def test_fiat_invoices_with_a_provider_token(
    telegram: FakeTelegram, tg_sqlite: Database, request: pytest.FixtureRequest
) -> None:
    config = BotConfig(secret_key=SECRET, packs=PACKS, stripe_provider_token="284685063:TEST:fake")
    tg = await open_tg(tg_sqlite, telegram, engine_for(request), config=config)
    try:
        gina = tg.person("Gina")
        await tg.feed(gina.text("/buy"))
        options = buttons(tg.telegram.called("sendMessage")[-1])
        assert [text for text, _ in options] == [
            "10 credits · 100 ⭐",
            "10 credits · 1.99 USD",
            "50 credits · 450 ⭐",
        ]
        await tg.feed(gina.press(options[1][1], 1000))
        invoice = tg.telegram.called("sendInvoice")[-1]
        assert (invoice["currency"], invoice["provider_token"]) == ("USD", "284685063:TEST:fake")
        assert [p["amount"] for p in invoice["prices"]] == [199]
        await tg.feed(gina.pre_checkout(invoice["payload"], 199, "USD"))
        assert accepted(last_checkout(tg))
        await tg.feed(gina.paid(invoice["payload"], 199, currency="USD"))
        assert await tg.balance(gina) == 13
    finally:
        await close_tg(tg)


async def test_a_stale_pack_button_is_answered_and_sends_no_invoice(shop: TelegramHarness) -> None:
    tg = shop
    hal = tg.person("Hal")
    await tg.feed(hal.text("/start"))
    await tg.feed(hal.press("buy:20:0", 1000))  # a pack that is not (or no longer) for sale
    assert tg.telegram.called("sendInvoice") == []
    answer = tg.telegram.called("answerCallbackQuery")[-1]
    assert "no longer for sale" in answer["text"]


async def test_paysupport_and_terms_answer(shop: TelegramHarness) -> None:
    tg = shop
    ivy = tg.person("Ivy")
    await tg.feed(ivy.text("/paysupport"))
    assert "payment" in ivy.texts()[-1]
    await tg.feed(ivy.text("/terms"))
    assert "Terms (version 1)" in ivy.texts()[-1] and "One swap costs 1 credit" in ivy.texts()[-1]


def test_the_provider_token_setting_reaches_the_bots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_PAYMENT_PROVIDER_TOKEN", raising=False)
    key = "k" * 40
    with_token = Settings(TELEGRAM_PAYMENT_PROVIDER_TOKEN="284685063:TEST:fake", SWAPBOT_SECRET_KEY=key)
    assert bot_config(with_token).stripe_provider_token == "284685063:TEST:fake"
    assert bot_config(Settings(SWAPBOT_SECRET_KEY=key)).stripe_provider_token is None
    assert (
        bot_config(Settings(TELEGRAM_PAYMENT_PROVIDER_TOKEN="", SWAPBOT_SECRET_KEY=key)).stripe_provider_token
        is None
    )


# --- card payments (Telegram's Stripe provider token): refunded through Stripe's API ------------------

# Fiat invoices; the Stripe key (pointing at the fake) is added by the tests that have one.
CARD_CONFIG = replace(CONFIG, stripe_provider_token="284685063:TEST:fake")


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


async def open_card_shop(
    request: pytest.FixtureRequest, telegram: FakeTelegram, backend: tuple[Database, bool], config: BotConfig
) -> TelegramHarness:
    db, postgres = backend
    return await open_tg(
        db, telegram, engine_for(request), config=config, redis_url=REDIS_URL if postgres else None
    )


async def card_payment(tg: TelegramHarness, person: Person, stripe_charge: str) -> str:
    """The 10-credit pack paid in USD with Stripe charge ``stripe_charge``; returns Telegram's charge id."""
    await tg.feed(person.text("/start"))
    payload = sign_payload(SECRET, 10, (await person.user()).id)
    charge = f"tgCard{uuid.uuid4().hex[:12]}"
    await tg.feed(person.paid(payload, 199, charge, "USD", provider_charge_id=stripe_charge))
    assert await tg.balance(person) == 13
    return charge


async def test_admin_refund_of_a_card_payment_asks_stripe_then_reverses_once(
    request: pytest.FixtureRequest,
    telegram: FakeTelegram,
    backend: tuple[Database, bool],
    fake_stripe: FakeStripe,
) -> None:
    config = replace(CARD_CONFIG, stripe_account=StripeAccount(STRIPE_KEY, fake_stripe.url))
    tg = await open_card_shop(request, telegram, backend, config)
    try:
        admin = Person(tg, ADMIN_ID, "Admin")
        gus = tg.person("Gus")
        stripe_charge = f"ch_fiat_1_{uuid.uuid4().hex[:10]}"
        charge = await card_payment(tg, gus, stripe_charge)
        fake_stripe.add_charge(stripe_charge, amount=199)

        # Stripe says no first (a disputed charge cannot be refunded): nothing changes.
        disputed = f"Charge {stripe_charge} has been charged back; cannot issue a refund."
        fake_stripe.refund_script.push(Reply(400, disputed, "charge_already_disputed"))
        await tg.feed(admin.text(f"/refund {charge}"))
        assert admin.texts()[-1] == (
            f"Stripe refused the refund: {disputed.removesuffix('.')}. Nothing was changed."
        )
        assert await tg.balance(gus) == 13

        await tg.feed(admin.text(f"/refund {charge}"))
        calls = fake_stripe.refund_requests()
        assert len(calls) == 2
        assert calls[-1].form == {"charge": stripe_charge}
        assert calls[-1].api_key == STRIPE_KEY
        assert calls[-1].idempotency_key == f"swapbot-refund:pay:stripe:{charge}"
        assert fake_stripe.charges[stripe_charge]["refunded"] is True
        assert admin.texts()[-1] == (
            "Refunded 1.99 USD to the card. 10 credits were taken back; 0 had already been spent."
        )
        assert gus.texts()[-1] == "Your card payment of 1.99 USD was refunded. 10 credits were taken back."
        assert await tg.balance(gus) == 3

        # Again, by Stripe's charge id this time: found, already refunded, Stripe not asked.
        await tg.feed(admin.text(f"/refund {stripe_charge}"))
        assert "refunded before" in admin.texts()[-1]
        assert len(fake_stripe.refund_requests()) == 2
        assert await tg.balance(gus) == 3
        async with tg.db.session() as session:
            payment = await db_payments.get(session, Provider.STRIPE, charge)
            assert (payment.status, payment.credits_reversed) == ("refunded", 10)
            reversal = await ledger.find(session, db_payments.reversal_key(Provider.STRIPE, charge))
            assert reversal is not None and reversal.delta == -10
    finally:
        await close_tg(tg)


async def test_refund_of_a_card_payment_without_a_stripe_key_changes_nothing(
    request: pytest.FixtureRequest,
    telegram: FakeTelegram,
    backend: tuple[Database, bool],
    fake_stripe: FakeStripe,
) -> None:
    tg = await open_card_shop(request, telegram, backend, CARD_CONFIG)  # no STRIPE_SECRET_KEY
    try:
        admin = Person(tg, ADMIN_ID, "Admin")
        hana = tg.person("Hana")
        stripe_charge = f"ch_fiat_1_{uuid.uuid4().hex[:10]}"
        charge = await card_payment(tg, hana, stripe_charge)
        fake_stripe.add_charge(stripe_charge, amount=199)

        await tg.feed(admin.text(f"/refund {charge}"))
        assert admin.texts()[-1] == (
            "This is a card payment, and no Stripe secret key (STRIPE_SECRET_KEY) is configured, so it "
            "cannot be refunded here. Nothing was changed."
        )
        assert fake_stripe.requests == []
        assert await tg.balance(hana) == 13
        async with tg.db.session() as session:
            payment = await db_payments.get(session, Provider.STRIPE, charge)
            assert (payment.status, payment.credits_reversed) == ("paid", None)
    finally:
        await close_tg(tg)
