"""The per-update path kept cheap without going stale: /balance answers from the user the middleware
read for this update, and seeing a user is a read, not a row write."""

from __future__ import annotations

from db import ledger
from tests.telegram.conftest import TelegramHarness


async def test_balance_is_the_current_one_after_a_change_elsewhere(tg: TelegramHarness) -> None:
    ann = tg.person("Ann")
    await tg.feed(ann.text("/start"), ann.text("/balance"))
    assert ann.texts()[-1] == "You have 3 credits."
    user = await ann.user()
    async with tg.services.db.transaction() as session:  # credited outside this chat (a payment, an admin)
        await ledger.post(session, user_id=user.id, delta=4, reason="admin", key=f"test:hot:{user.id}")
    await tg.feed(ann.text("/balance"))
    assert ann.texts()[-1] == "You have 7 credits."


async def test_messages_do_not_rewrite_the_user_row(tg: TelegramHarness) -> None:
    bob = tg.person("Bob")
    await tg.feed(bob.text("/start"))
    seen = (await bob.user()).last_seen_at
    await tg.feed(bob.text("/help"), bob.text("/balance"))
    assert len(bob.texts()) == 3
    assert (await bob.user()).last_seen_at == seen
