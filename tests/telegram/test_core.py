"""The Telegram core: /start and the free credits, /help, bans, duplicates, errors, rate limits."""

from __future__ import annotations

from tests.telegram.conftest import TelegramHarness


async def test_start_grants_the_free_credits_once(tg: TelegramHarness) -> None:
    alice = tg.person()
    await tg.feed(alice.text("/start"))
    first = alice.texts()[-1]
    assert "3 free credits" in first and "agreed" in first
    menu = tg.telegram.called("sendMessage")[-1]["reply_markup"]
    assert ["/help"] in [[b["text"] for b in row] for row in menu["keyboard"]]
    assert (await alice.user()).balance == 3

    await tg.feed(alice.text("/start"))
    assert (await alice.user()).balance == 3
    assert "free credits" not in alice.texts()[-1] and "You have 3 credits" in alice.texts()[-1]


async def test_help_lists_every_command(tg: TelegramHarness) -> None:
    bob = tg.person("Bob")
    await tg.feed(bob.text("/help"))
    answer = bob.texts()[-1]
    for command in (
        "/setface",
        "/faces",
        "/swap",
        "/caricature",
        "/settings",
        "/balance",
        "/history",
        "/cancel",
        "/buy",
        "/privacy",
        "/forget",
        "/paysupport",
        "/terms",
    ):
        assert command in answer
    assert "/grant" not in answer
