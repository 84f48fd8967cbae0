"""Checkout Sessions made by the real ``stripe`` library against the fake Stripe API."""

from __future__ import annotations

import asyncio

import pytest

from bot.flows import checkout
from bot.flows.payments import read_payload
from bot.services import BotConfig
from tests.fakes import error, server_error
from tests.fakes.stripe_server import SECRET_KEY
from tests.stripe.conftest import CANCEL_URL, SECRET, SUCCESS_URL, Shop


async def test_a_session_carries_the_pack_the_buyer_and_the_return_urls(shop: Shop) -> None:
    buyer = await shop.buyer("discord", language="ru")
    link = await checkout.checkout(shop.services, buyer, 50)
    assert link is not None
    assert link.pack.credits == 50 and link.url.endswith(link.session_id)

    (request,) = shop.fake_stripe.requests
    form = request.form
    assert request.api_key == SECRET_KEY
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][unit_amount]"] == "899"
    assert form["line_items[0][price_data][product_data][name]"] == "Кредиты: 50"  # the buyer's language
    assert form["client_reference_id"] == str(buyer.id)
    assert (form["metadata[user_id]"], form["metadata[credits]"]) == (str(buyer.id), "50")
    assert form["metadata[platform]"] == "discord"
    # The signed payload names this buyer and pack under our secret key.
    assert read_payload(SECRET.encode(), form["metadata[payload]"]) == (50, buyer.id)
    assert (form["success_url"], form["cancel_url"]) == (SUCCESS_URL, CANCEL_URL)
    assert request.idempotency_key is not None and str(buyer.id) in request.idempotency_key


async def test_a_double_tap_makes_one_session(shop: Shop) -> None:
    buyer = await shop.buyer()
    first, second = await asyncio.gather(
        checkout.checkout(shop.services, buyer, 10), checkout.checkout(shop.services, buyer, 10)
    )
    assert first is not None and second is not None
    assert first.session_id == second.session_id
    keys = {request.idempotency_key for request in shop.fake_stripe.requests}
    assert len(shop.fake_stripe.requests) == 2 and len(keys) == 1
    assert len(shop.fake_stripe.sessions) == 1

    # Another pack, or another buyer, is another session.
    other_pack = await checkout.checkout(shop.services, buyer, 50)
    other_buyer = await checkout.checkout(shop.services, await shop.buyer(), 10)
    assert other_pack is not None and other_buyer is not None
    assert len({first.session_id, other_pack.session_id, other_buyer.session_id}) == 3


def test_the_idempotency_window_moves_on() -> None:
    from bot.pricing import Money, Pack
    from db.models import User

    user = User(id=5, platform="discord", external_id="1")
    pack = Pack(10, 100, Money(199, "usd"))
    key = checkout.idempotency_key
    assert key(user, pack, now=1200.0) == key(user, pack, now=1799.0)
    assert key(user, pack, now=1200.0) != key(user, pack, now=1800.0)
    repriced = Pack(10, 100, Money(299, "usd"))  # Stripe refuses a key reused with other parameters
    assert key(user, pack, now=1200.0) != key(user, repriced, now=1200.0)


async def test_packs_without_a_stripe_price_or_unknown_get_no_link(shop: Shop) -> None:
    buyer = await shop.buyer()
    assert [pack.credits for pack in checkout.checkout_packs(shop.services)] == [10, 50]
    assert await checkout.checkout(shop.services, buyer, 7) is None  # Stars only
    assert await checkout.checkout(shop.services, buyer, 20) is None  # not for sale
    assert shop.fake_stripe.requests == []


async def test_not_configured_means_no_checkout(shop: Shop) -> None:
    services = shop.services
    services.config = BotConfig(secret_key=SECRET.encode(), packs=services.config.packs)
    assert not checkout.checkout_enabled(services)
    assert checkout.checkout_packs(services) == []
    assert await checkout.checkout(services, await shop.buyer(), 10) is None
    assert shop.fake_stripe.requests == []


@pytest.mark.parametrize("reply", [error(400, "Invalid currency", "parameter_invalid"), server_error(500)])
async def test_stripe_refusing_raises_checkout_failed(shop: Shop, reply: object) -> None:
    # A 500 is retried by the library under the same idempotency key; three in a row fail the call.
    shop.fake_stripe.script.push(reply, reply, reply)  # type: ignore[arg-type]
    with pytest.raises(checkout.CheckoutFailed) as caught:
        await checkout.checkout(shop.services, await shop.buyer(), 10)
    assert caught.value.code == "checkout_failed"
    assert shop.fake_stripe.sessions == {}
    assert shop.services.texts.text(caught.value.code, "en").startswith("The card payment page")


def test_settings_turn_checkout_on_only_when_complete() -> None:
    from swapbot.settings import Settings
    from swapbot.wiring import bot_config

    base = {"SWAPBOT_SECRET_KEY": SECRET, "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_SUCCESS_URL": SUCCESS_URL}
    assert bot_config(Settings(**base, _env_file=None)).stripe is None  # no cancel URL
    full = Settings(
        **base,
        STRIPE_CANCEL_URL=CANCEL_URL,
        STRIPE_API_URL="http://127.0.0.1:1",
        SWAPBOT_TELEGRAM_STRIPE_CHECKOUT="true",
        _env_file=None,
    )
    stripe = bot_config(full).stripe
    assert stripe is not None
    assert (stripe.secret_key, stripe.success_url, stripe.cancel_url) == (SECRET_KEY, SUCCESS_URL, CANCEL_URL)
    assert stripe.api_url == "http://127.0.0.1:1" and stripe.telegram_checkout
    assert not bot_config(
        Settings(**base, STRIPE_CANCEL_URL=CANCEL_URL, _env_file=None)
    ).stripe.telegram_checkout
