"""Limits and abuse: the per-user token bucket and daily cap (memory and Redis), the polite "wait N s"
through the dispatcher, duplicates on Redis, a 429 from Telegram waited out, outgoing spacing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from bot.once import RedisOnce
from bot.ratelimit import Limits, MemoryRateLimiter, RedisRateLimiter, day_of
from bot.telegram.keyboards import SettingsOpen
from bot.telegram.middlewares import OutgoingLimits
from bot.telegram.middlewares.outgoing import _Schedule
from db.session import Database
from tests.fakes.telegram_server import FakeTelegram, retry_after
from tests.jobs.squares import SquareEngine, picture, png
from tests.telegram.conftest import REDIS_URL, TelegramHarness, close_tg, engine_for, open_tg
from tests.telegram.swapkit import enlarged, save_face


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_memory_bucket_refills_and_the_daily_cap_holds() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(Limits(burst=3, per_minute=60, daily_cap=2), clock=clock)
    verdicts = [await limiter.hit("telegram:1") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].reason == "rate" and 0 < verdicts[-1].retry_after_s <= 1.0
    assert (await limiter.hit("telegram:2")).allowed  # another user has their own bucket
    clock.now += 1.0
    assert (await limiter.hit("telegram:1")).allowed
    clock.now += 10.0
    daily = [await limiter.hit("telegram:1", daily=True) for _ in range(3)]
    assert [v.allowed for v in daily] == [True, True, False]
    assert daily[-1].reason == "daily" and 0 < daily[-1].retry_after_s <= 86_400
    assert (await limiter.hit("telegram:1")).allowed  # the cap is on work, not on talking
    clock.now += daily[-1].retry_after_s + 1  # a new UTC day
    assert (await limiter.hit("telegram:1", daily=True)).allowed


@pytest.fixture
async def redis_limiter() -> AsyncIterator[RedisRateLimiter]:
    limits = Limits(burst=10, per_minute=0.01, daily_cap=3)
    limiter = RedisRateLimiter(aioredis.from_url(REDIS_URL), limits, f"test:{uuid.uuid4().hex}:")
    try:
        yield limiter
    finally:
        await limiter.close()
        await _forget(limiter.prefix)


async def test_redis_bucket_is_atomic_under_concurrent_hits(redis_limiter: RedisRateLimiter) -> None:
    verdicts = await asyncio.gather(*(redis_limiter.hit("telegram:7") for _ in range(50)))
    assert sum(v.allowed for v in verdicts) == 10
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.reason == "rate" and v.retry_after_s > 60 for v in refused)


async def test_redis_daily_cap_counts_only_allowed_hits(redis_limiter: RedisRateLimiter) -> None:
    import time

    verdicts = [await redis_limiter.hit("telegram:8", daily=True) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert verdicts[-1].reason == "daily" and 0 < verdicts[-1].retry_after_s <= 86_400
    count = await redis_limiter.client.get(f"{redis_limiter.prefix}day:{day_of(time.time())}:telegram:8")
    assert int(count) == 3  # refused hits took nothing
    assert (await redis_limiter.hit("telegram:8")).allowed  # talking is still fine


@pytest.fixture(params=["memory", "redis"])
async def tight(
    request: pytest.FixtureRequest, telegram: FakeTelegram, tg_sqlite: Database
) -> AsyncIterator[TelegramHarness]:
    """A harness whose users may send two updates, then one a minute."""
    limits = Limits(burst=2, per_minute=1, daily_cap=0)
    prefix = f"test:{uuid.uuid4().hex}:"
    if request.param == "redis":
        limiter = RedisRateLimiter(aioredis.from_url(REDIS_URL), limits, prefix)
        once = RedisOnce(aioredis.from_url(REDIS_URL), prefix)
        harness = await open_tg(tg_sqlite, telegram, engine_for(request), limiter=limiter, once=once)
    else:
        harness = await open_tg(tg_sqlite, telegram, engine_for(request), limiter=MemoryRateLimiter(limits))
    try:
        yield harness
    finally:
        await close_tg(harness)
        await _forget(prefix)


async def _forget(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_a_flood_is_told_to_wait_once(tight: TelegramHarness) -> None:
    alice = tight.person()
    await tight.feed(*(alice.text("/help") for _ in range(5)))
    said = alice.texts()
    assert len(said) == 3
    assert "/setface" in said[0] and "/setface" in said[1]
    assert said[2] == tight.services.texts.text("rate_limited", "en", seconds=60)
    await tight.feed(alice.press(SettingsOpen(page="main").pack(), message_id=1))
    assert tight.telegram.called("answerCallbackQuery")[-1].get("text") is None  # no second "wait"
    # Someone else is not slowed down by Alice.
    bob = tight.person("Bob")
    await tight.feed(bob.text("/help"))
    assert "/setface" in bob.texts()[0]


async def test_duplicates_on_redis_are_handled_once(tight: TelegramHarness) -> None:
    carol = tight.person("Carol")
    update = carol.text("/start")
    await tight.feed(update, update, update)
    assert len(carol.texts()) == 1
    assert (await carol.user()).balance == 3


async def test_a_429_on_send_message_is_waited_out_and_sent(tg: TelegramHarness) -> None:
    tg.telegram.script("sendMessage").push(retry_after(1), retry_after(1))
    dan = tg.person("Dan")
    await tg.feed(dan.text("/start"))
    tries = [call.ok for call in tg.telegram.requests if call.method == "sendMessage"]
    assert tries == [False, False, True]
    assert "3 free credits" in dan.texts()[0]


def test_outgoing_schedule_lets_a_burst_through_then_spaces_messages() -> None:
    schedule = _Schedule()
    waits = [schedule.reserve("chat", 1.0, 3) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.9 < waits[3] <= 1.0 and 1.9 < waits[4] <= 2.0
    assert schedule.reserve("other chat", 1.0, 3) == 0.0
    schedule.hold("other chat", 5.0)  # Telegram said retry_after 5
    assert 4.9 < schedule.reserve("other chat", 1.0, 1) <= 5.0


async def test_the_daily_cap_refuses_photos_not_talk(
    telegram: FakeTelegram, tg_sqlite: Database, request: pytest.FixtureRequest
) -> None:
    limits = Limits(burst=100, per_minute=600, daily_cap=2)
    harness = await open_tg(tg_sqlite, telegram, engine_for(request), limiter=MemoryRateLimiter(limits))
    try:
        erin = harness.person("Erin")
        await harness.feed(erin.text("/start"))
        photo = png(picture(((0, 0, 255), 20, 20)))
        await harness.feed(erin.photo(photo), erin.document(photo, file_name="b.png", mime_type="image/png"))
        await harness.idle()
        before = len(erin.texts())
        await harness.feed(erin.photo(photo), erin.photo(photo))
        refusals = [t for t in erin.texts()[before:] if "today's limit" in t]
        assert len(refusals) == 1  # told once, not once per photo
        await harness.feed(erin.text("/help"))
        assert "/setface" in erin.texts()[-1]  # talking is still fine
    finally:
        await close_tg(harness)


@pytest.mark.engine("classic")  # a real swap at the end: real faces, the real engine
async def test_plain_group_photos_are_no_work_and_a_swap_after_them_still_goes(
    telegram: FakeTelegram,
    tg_sqlite: Database,
    request: pytest.FixtureRequest,
    astronaut: np.ndarray,
    hanks: np.ndarray,
) -> None:
    """Photos shared in a group without a command reach no handler: they take nothing from the bucket
    or the day's cap and get no "please wait"; ``/swap`` alone asks for a photo and is no work either.
    The limits fit exactly /start, /setface, /swap alone and one real swap."""
    limits = Limits(burst=4, per_minute=0.01, daily_cap=2)
    harness = await open_tg(tg_sqlite, telegram, engine_for(request), limiter=MemoryRateLimiter(limits))
    try:
        fay = harness.person("Fay")
        await save_face(harness, fay, png(astronaut), "me")
        group = {"id": -(10**12) - fay.id, "type": "group", "title": "friends"}
        shared = [
            fay.photo(png(picture(((0, 200, 0), 10 * n, 30)))) for n in range(1, 7)
        ]  # six plain photos: more than the bucket and the cap together
        for n, update in enumerate(shared):
            update["message"].update(chat=group, message_id=1000 + n)
        await harness.feed(*shared)
        await harness.feed(fay.text("/swap", chat=group, message_id=1100))
        await harness.idle()
        said = harness.telegram.sent_to(group["id"])
        assert [s.text for s in said] == [harness.services.texts.text("swap_needs_photo", "en")]

        swap = fay.photo(png(enlarged(hanks)), caption="/swap")
        swap["message"].update(chat=group, message_id=1101)
        await harness.feed(swap)
        await harness.idle()
        assert len(harness.telegram.sent_to(group["id"], "photo")) == 1  # the swapped result
        assert not any("wait" in (s.text or "") or "limit" in (s.text or "") for s in said)
        assert (await fay.user()).balance == 2
    finally:
        await close_tg(harness)


async def test_only_new_messages_are_spaced(telegram: FakeTelegram, tg_sqlite: Database) -> None:
    """A chat's budget of new messages is used up; edits and chat actions still go out at once (were
    they spaced at this rate, each would wait many minutes)."""
    slow = OutgoingLimits(per_chat_per_s=0.001, chat_burst=2, overall_per_s=1000.0, overall_burst=1000)
    harness = await open_tg(tg_sqlite, telegram, SquareEngine(), outgoing=slow)
    try:
        chat = harness.person().id
        first = await harness.bot.send_message(chat, "one")
        await harness.bot.send_message(chat, "two")

        async def edits() -> None:
            for n in range(5):
                text = f"one, edit {n}"
                await harness.bot.edit_message_text(text, chat_id=chat, message_id=first.message_id)
            await harness.bot.send_chat_action(chat, "upload_photo")

        await asyncio.wait_for(edits(), timeout=60)
        assert telegram.text_of(chat, first.message_id) == "one, edit 4"
    finally:
        await close_tg(harness)
