"""The notifiers against fake platform servers, through the real clients (aiogram, discord.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import cv2
import numpy as np
import pytest

from db.base import utcnow
from db.jobs import Delivery
from db.session import Database
from jobs.config import DiscordConfig, TelegramConfig
from jobs.errors import ChatUnavailable, DeliveryError
from jobs.fetch import InputFetcher
from jobs.notify import Target
from jobs.notify.discord import DiscordNotifier
from jobs.notify.telegram import TelegramNotifier
from jobs.platforms.discord import set_api_base
from jobs.platforms.telegram import telegram_bot
from jobs.results import encode_result
from tests.fakes import rate_limited
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import (
    FakeTelegram,
    bad_request,
    blocked,
    proxy_error,
    retry_after,
    server_error,
)
from tests.jobs.conftest import BLUE, RED
from tests.jobs.discord_runs import run_discord_swap
from tests.jobs.squares import colour_at, picture

CHAT = "4242"


@pytest.fixture
async def tg(telegram: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    bot = telegram_bot(TelegramConfig(telegram.token, telegram.url))
    try:
        yield TelegramNotifier(bot)
    finally:
        await bot.session.close()


@pytest.fixture
def discord_fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def dc(discord_fake: FakeDiscord) -> AsyncIterator[DiscordNotifier]:
    set_api_base(discord_fake.api_url)  # what a process built with Discord settings does at start-up
    notifier = DiscordNotifier(DiscordConfig(discord_fake.token, discord_fake.api_url))
    try:
        yield notifier
    finally:
        await notifier.close()


# --- Telegram ---------------------------------------------------------------------------------------


async def test_telegram_sends_a_photo_answering_the_status_message(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    status = await tg.bot.send_message(CHAT, "Got it.")
    result = encode_result(picture((RED, 20, 20)))
    ref = await tg.deliver(Target("j", Delivery("telegram", CHAT, str(status.message_id))), result, "")
    (sent,) = telegram.sent_to(CHAT, "photo")
    assert ref == f"photo:{sent.file_id}#{sent.message_id}"
    assert sent.data == result.photo and sent.reply_to == status.message_id


async def test_a_picture_beyond_the_photo_limits_goes_as_a_document(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    tall = np.full((900, 40, 3), 200, np.uint8)  # aspect 22.5: over Telegram's 20 for photos
    result = encode_result(tall)
    assert result.photo is None and result.document is not None
    ref = await tg.deliver(Target("j", Delivery("telegram", CHAT)), result, "")
    (sent,) = telegram.sent_to(CHAT)
    assert (sent.kind, ref) == ("document", f"document:{sent.file_id}#{sent.message_id}")
    assert (
        cv2.imdecode(np.frombuffer(sent.data, np.uint8), cv2.IMREAD_COLOR).shape == tall.shape
    )  # not padded


async def test_a_photo_telegram_refuses_is_sent_as_a_document(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    telegram.script("sendPhoto").push(bad_request("PHOTO_INVALID_DIMENSIONS"))
    result = encode_result(picture((RED, 20, 20)))
    ref = await tg.deliver(Target("j", Delivery("telegram", CHAT)), result, "")
    (sent,) = telegram.sent_to(CHAT)
    assert sent.kind == "document" and ref.startswith("document:") and sent.data == result.photo


async def test_telegram_failures_are_sorted_into_later_and_never(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    target = Target("j", Delivery("telegram", CHAT))
    result = encode_result(picture((RED, 20, 20)))
    telegram.script("sendPhoto").push(
        retry_after(3), server_error(502), proxy_error(502), blocked(), bad_request("chat not found")
    )
    with pytest.raises(DeliveryError) as later:
        await tg.deliver(target, result, "")
    assert later.value.retry_after == 3.0 and later.value.transient
    for _ in range(2):  # the Bot API's JSON 502, and a front proxy's HTML one
        with pytest.raises(DeliveryError):
            await tg.deliver(target, result, "")
    for _ in range(2):
        with pytest.raises(ChatUnavailable) as never:
            await tg.deliver(target, result, "")
        assert not never.value.transient and never.value.code == "undelivered"
    assert telegram.sent_to(CHAT) == []


async def test_status_edits_that_change_nothing_or_find_nothing_are_harmless(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    status = await tg.bot.send_message(CHAT, "Got it.")
    target = Target("j", Delivery("telegram", CHAT, str(status.message_id)))
    await tg.status(target, "Working on it…")
    await tg.status(target, "Working on it…")  # Telegram: "message is not modified"
    await tg.status(Target("j", Delivery("telegram", CHAT, "999999")), "Done.")  # "message to edit not found"
    assert telegram.edits_of(CHAT, status.message_id) == ["Working on it…"]
    await tg.status(Target("j", Delivery("telegram", CHAT)), "no status message: nothing to do")
    assert telegram.calls.count("editMessageText") == 3


async def test_a_notice_without_a_status_message_is_a_new_message(
    tg: TelegramNotifier, telegram: FakeTelegram
) -> None:
    await tg.notice(Target("j", Delivery("telegram", CHAT)), "No face found.")
    (sent,) = telegram.sent_to(CHAT)
    assert (sent.kind, sent.text) == ("message", "No face found.")


async def test_a_stored_result_is_resent_by_file_id(tg: TelegramNotifier, telegram: FakeTelegram) -> None:
    ref = await tg.deliver(Target("j", Delivery("telegram", CHAT)), encode_result(picture((RED, 20, 20))), "")
    assert await tg.resend(Target("j", Delivery("telegram", "777")), ref, "") == ref
    (again,) = telegram.sent_to("777")
    assert again.data is None and ref.startswith(f"photo:{again.file_id}#")


# --- Discord ----------------------------------------------------------------------------------------


def _discord_target(fake: FakeDiscord, *, valid: bool, user: str = "31337") -> Target:
    token, original = fake.interaction()
    expires = utcnow() + (timedelta(minutes=14) if valid else -timedelta(minutes=1))
    return Target("j", Delivery("discord", "5550001", str(original), token, expires), user)


async def test_discord_answers_with_a_followup_while_the_token_is_valid(
    dc: DiscordNotifier, discord_fake: FakeDiscord
) -> None:
    target = _discord_target(discord_fake, valid=True)
    result = encode_result(picture((RED, 20, 20)))
    await dc.status(target, "Working on it…")
    ref = await dc.deliver(target, result, "")
    (posted,) = discord_fake.posted
    assert (posted.via, posted.files) == ("followup", [result.photo])
    assert ref.startswith(discord_fake.url) and ref.endswith(".jpg")
    assert discord_fake.edits == [(int(target.delivery.message), "Working on it…")]


async def test_after_the_token_expires_the_result_goes_to_the_channel(
    dc: DiscordNotifier, discord_fake: FakeDiscord
) -> None:
    target = _discord_target(discord_fake, valid=False)
    result = encode_result(picture((RED, 20, 20)))
    await dc.status(target, "Working on it…")  # the original response cannot be edited any more
    await dc.deliver(target, result, "")
    assert discord_fake.edits == []
    (posted,) = discord_fake.posted_to(target.delivery.chat)
    assert (posted.via, posted.files) == ("channel", [result.photo])


async def test_a_closed_channel_falls_back_to_a_dm_and_a_closed_dm_is_undeliverable(
    dc: DiscordNotifier, discord_fake: FakeDiscord
) -> None:
    target = _discord_target(discord_fake, valid=False)
    discord_fake.closed_channels.add(target.delivery.chat)
    result = encode_result(picture((RED, 20, 20)))
    await dc.deliver(target, result, "")
    (posted,) = discord_fake.posted_to(discord_fake.dm_channels[target.user_external_id])
    assert posted.files == [result.photo]
    discord_fake.closed_dms.add(target.user_external_id)
    with pytest.raises(ChatUnavailable):
        await dc.deliver(target, result, "")


async def test_a_numbered_preview_is_seen_only_by_its_asker(
    dc: DiscordNotifier, discord_fake: FakeDiscord
) -> None:
    """A numbered preview shows every face of someone's photo: an ephemeral followup while the token
    lasts, and after it the asker's DMs, never the channel."""
    preview = encode_result(picture((RED, 20, 20)), face_count=2)
    live = replace(_discord_target(discord_fake, valid=True), kind="swap")
    await dc.deliver(live, preview, "Faces found: 2.")
    (followup,) = discord_fake.posted
    assert followup.via == "followup" and followup.payload["flags"] & 64
    late = replace(_discord_target(discord_fake, valid=False), kind="swap")
    await dc.deliver(late, preview, "Faces found: 2.")
    assert discord_fake.posted_to(late.delivery.chat) == []
    (dm,) = discord_fake.posted_to(discord_fake.dm_channels[late.user_external_id])
    assert dm.files == [preview.photo]


async def test_discord_rate_limits_are_a_later_and_results_can_be_resent(
    dc: DiscordNotifier, discord_fake: FakeDiscord
) -> None:
    target = _discord_target(discord_fake, valid=False)
    result = encode_result(picture((RED, 20, 20)))
    discord_fake.script("channel").push(rate_limited("2"))
    with pytest.raises(DeliveryError) as later:
        await dc.deliver(target, result, "")
    assert later.value.transient
    ref = await dc.deliver(target, result, "")
    await dc.resend(target, ref, "")
    first, second = discord_fake.posted_to(target.delivery.chat)
    assert first.files == second.files == [result.photo]


async def test_a_discord_job_end_to_end_through_the_runner(
    sqlite: Database, discord_fake: FakeDiscord, dc: DiscordNotifier
) -> None:
    """Inputs are Discord attachment URLs, the result a followup, the status the original response."""
    job = await run_discord_swap(sqlite, discord_fake, dc, InputFetcher(url_policy=discord_fake.url_policy()))
    (posted,) = discord_fake.posted
    assert posted.via == "followup"
    result = cv2.imdecode(np.frombuffer(posted.files[0], np.uint8), cv2.IMREAD_COLOR)
    assert all(abs(a - b) <= 12 for a, b in zip(colour_at(result, 30, 30), BLUE, strict=True))
    assert [text for _, text in discord_fake.edits] == ["Queued: you are #1.", "Working on it…", "Done."]
    assert job.status == "succeeded" and job.result_ref.startswith(discord_fake.url)


async def test_each_bot_session_keeps_the_parsed_response_classes_alive() -> None:
    """pydantic caches aiogram's ``Response[...]`` classes weakly: the session holds the ones our calls
    use (no table filled at import), so asking for one again is the cached class, not a rebuild."""
    import gc

    from aiogram.methods import SendPhoto
    from aiogram.methods.base import Response

    from jobs.config import TelegramConfig
    from jobs.platforms.telegram import PINNED_METHODS, telegram_bot

    bot = telegram_bot(TelegramConfig("123:abc", "http://127.0.0.1:9"))
    try:
        held = bot.session.response_types  # type: ignore[attr-defined]
        assert set(held) == set(PINNED_METHODS) and SendPhoto in held
        gc.collect()
        assert Response[SendPhoto.__returning__] is held[SendPhoto]  # type: ignore[name-defined]
    finally:
        await bot.session.close()
