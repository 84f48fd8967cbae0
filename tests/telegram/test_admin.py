"""Admin commands through the real dispatcher and the fake Bot API: /stats, /grant (once per command
message), /ban and /unban; for anyone else they are unknown commands."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator

import pytest

from bot.services import BotConfig
from db.models import Payment
from db.session import Database
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine
from tests.telegram.conftest import SECRET, Person, TelegramHarness, close_tg, open_tg

ADMIN_ID = random.randint(10**9, 2 * 10**9)


@pytest.fixture
async def tg(telegram: FakeTelegram, tg_sqlite: Database) -> AsyncIterator[TelegramHarness]:
    config = BotConfig(secret_key=SECRET, admins=frozenset({("telegram", str(ADMIN_ID))}))
    harness = await open_tg(tg_sqlite, telegram, SquareEngine(), config=config)
    try:
        yield harness
    finally:
        await close_tg(harness)


def admin(tg: TelegramHarness) -> Person:
    return Person(tg, ADMIN_ID, "Root")


async def replies(tg: TelegramHarness, person: Person, text: str) -> list[str]:
    """Everything the bot said to ``person`` in answer to ``text``."""
    before = len(tg.telegram.sent_to(person.id))
    await tg.feed(person.text(text))
    return [sent.text or sent.caption or sent.kind for sent in tg.telegram.sent_to(person.id)[before:]]


async def test_admin_commands_are_unknown_commands_to_everyone_else(tg: TelegramHarness) -> None:
    mallory, bob = tg.person("Mallory"), tg.person("Bob")
    await tg.feed(mallory.text("/start"), bob.text("/start"))
    unknown = await replies(tg, mallory, "/nosuchcommand")
    for command in ("/stats", f"/grant telegram:{mallory.id} 100", f"/ban telegram:{bob.id}", "/unban 1"):
        assert await replies(tg, mallory, command) == unknown, command
    assert (await mallory.user()).balance == 3
    assert not (await bob.user()).is_banned
    assert not any("Users:" in text for text in mallory.texts())


def figures(text: str) -> dict[str, int]:
    found = re.search(
        r"Users: (\d+) \((\d+) banned\).*Queue: (\d+) waiting, (\d+) running.*"
        r"Stars taken: (\d+) today, (\d+)",
        text,
        re.S,
    )
    assert found is not None, text
    names = ("users", "banned", "queued", "running", "stars_today", "stars_total")
    return dict(zip(names, map(int, found.groups()), strict=True))


async def test_stats_counts_users_and_stars(tg: TelegramHarness) -> None:
    root = admin(tg)
    (before,) = await replies(tg, root, "/stats")
    newcomer = tg.person("Newcomer")
    await tg.feed(newcomer.text("/start"))
    async with tg.db.transaction() as session:
        session.add(
            Payment(provider="telegram_stars", charge_id=f"stats-{newcomer.id}",
                    user_id=(await newcomer.user()).id, amount=150, currency="XTR", credits=10, status="paid")
        )  # fmt: skip
    (after,) = await replies(tg, root, "/stats")
    old, new = figures(before), figures(after)
    assert new["users"] == old["users"] + 1
    assert new["stars_today"] == old["stars_today"] + 150
    assert new["stars_total"] == old["stars_total"] + 150
    assert "Jobs today:" in after


async def test_grant_once_per_command_message(tg: TelegramHarness) -> None:
    root, bob = admin(tg), tg.person("Bob")
    await tg.feed(bob.text("/start"))
    update = root.text(f"/grant telegram:{bob.id} 5")
    await tg.feed(update)
    assert root.texts()[-1] == f"Granted 5 credits to telegram:{bob.id}; they have 8 now."
    # The same update twice, and the same message delivered again under a new update id: granted once
    # (the dedupe middleware drops them; the ledger key of the command message would refuse them too).
    said = len(root.texts())
    await tg.feed(update, tg.update(message=update["message"]))
    assert (await bob.user()).balance == 8
    already = f"That grant was already made; telegram:{bob.id} has 8 credits."
    assert all(text == already for text in root.texts()[said:])

    bob_number = (await bob.user()).id
    await tg.feed(root.text(f"/grant @{bob_number} 2"))
    assert (await bob.user()).balance == 10
    for bad in ("/grant", f"/grant telegram:{bob.id}", f"/grant telegram:{bob.id} lots", "/grant bob 0"):
        assert (await replies(tg, root, bad))[0].startswith("Usage: /grant")
    assert await replies(tg, root, "/grant telegram:1 5") == ["There is no user telegram:1 here."]
    assert (await bob.user()).balance == 10


async def test_ban_and_unban(tg: TelegramHarness) -> None:
    root, bob = admin(tg), tg.person("Bob")
    await tg.feed(root.text("/start"), bob.text("/start"))
    assert await replies(tg, root, f"/ban {bob.id}") == [f"telegram:{bob.id} is banned."]
    assert (await bob.user()).is_banned
    assert await replies(tg, bob, "/balance") == ["You can no longer use this bot."]
    assert await replies(tg, bob, "/balance") == []  # told once, then silence
    assert await replies(tg, root, f"/ban telegram:{ADMIN_ID}") == [
        f"telegram:{ADMIN_ID} is an admin and cannot be banned."
    ]
    assert await replies(tg, root, "/ban") == ["Usage: /ban <telegram:id | @user number>"]

    assert await replies(tg, root, f"/unban telegram:{bob.id}") == [f"telegram:{bob.id} is no longer banned."]
    assert await replies(tg, bob, "/balance") == ["You have 3 credits."]
    assert await replies(tg, root, f"/unban {bob.id}") == [f"telegram:{bob.id} was not banned."]
