"""Telegram's /buy offers Stripe Checkout links only when the operator turns it on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.flows.payments import read_payload
from db.session import Database
from tests.fakes.stripe_server import FakeStripe
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine
from tests.stripe.conftest import config
from tests.telegram.conftest import SECRET, close_tg, open_tg, tg_sqlite

__all__ = ["tg_sqlite"]  # the Telegram suite's SQLite database fixture, used here too


def _buttons(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in call["reply_markup"]["inline_keyboard"] for button in row]


async def test_buy_offers_checkout_links_when_switched_on(
    telegram: FakeTelegram, tg_sqlite: Database, fake_stripe: FakeStripe
) -> None:
    bot_config = config(fake_stripe, telegram_checkout=True)
    bot_config = replace(bot_config, secret_key=SECRET)  # the Telegram harness's key
    tg = await open_tg(tg_sqlite, telegram, SquareEngine(), config=bot_config)
    try:
        jo = tg.person("Jo")
        await tg.feed(jo.text("/buy"))
        menu = _buttons(tg.telegram.called("sendMessage")[-1])
        cards = [b for b in menu if "by card" in b["text"]]
        # One per pack with a Stripe price (the 7-credit pack is Stars only).
        assert [b["text"] for b in cards] == [
            "10 credits · 1.99 USD by card",
            "50 credits · 8.99 USD by card",
        ]

        await tg.feed(jo.press(cards[1]["callback_data"], 1000))
        (session,) = fake_stripe.sessions.values()
        sent = tg.telegram.called("sendMessage")[-1]
        (link,) = _buttons(sent)
        assert link["url"] == session["url"] and link["text"] == "Pay 8.99 USD"
        assert "8.99 USD for 50 credits" in sent["text"]
        user = await jo.user()
        assert session["client_reference_id"] == str(user.id)
        assert session["metadata"]["platform"] == "telegram"
        assert read_payload(SECRET, session["metadata"]["payload"]) == (50, user.id)
    finally:
        await close_tg(tg)


async def test_buy_offers_no_checkout_links_by_default(
    telegram: FakeTelegram, tg_sqlite: Database, fake_stripe: FakeStripe
) -> None:
    bot_config = config(fake_stripe, telegram_checkout=False)
    bot_config = replace(bot_config, secret_key=SECRET)  # the Telegram harness's key
    tg = await open_tg(tg_sqlite, telegram, SquareEngine(), config=bot_config)
    try:
        kim = tg.person("Kim")
        await tg.feed(kim.text("/buy"))
        menu = _buttons(tg.telegram.called("sendMessage")[-1])
        stars = ["10 credits · 100 ⭐", "50 credits · 450 ⭐", "7 credits · 70 ⭐"]
        assert [b["text"] for b in menu] == stars
        # A "by card" button from an old message does nothing while the switch is off.
        await tg.feed(kim.press("card:10", 1000))
        assert fake_stripe.requests == []
        assert "no longer for sale" in tg.telegram.called("answerCallbackQuery")[-1]["text"]
    finally:
        await close_tg(tg)
