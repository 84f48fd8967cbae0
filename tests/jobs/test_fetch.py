"""Inputs fetched by reference: Telegram getFile + download, URLs (Discord attachments), local files;
what is gone is permanent, what is flaky is transient, what is too big is refused while downloading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobs.config import TelegramConfig
from jobs.errors import InputTooLarge, InputUnavailable, JobFailure
from jobs.fetch import InputFetcher
from jobs.platforms.telegram import telegram_bot
from jobs.request import InputRef
from tests.fakes import server_error
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram, proxy_error, retry_after

DATA = bytes(range(256)) * 40  # 10 KB


@pytest.fixture
async def fetcher(telegram: FakeTelegram) -> AsyncIterator[InputFetcher]:
    bot = telegram_bot(TelegramConfig(telegram.token, telegram.url))
    fetcher = InputFetcher(telegram=bot, max_bytes=len(DATA))
    try:
        yield fetcher
    finally:
        await fetcher.close()
        await bot.session.close()


async def test_telegram_files_come_through_the_bot_api(fetcher: InputFetcher, telegram: FakeTelegram) -> None:
    ref = InputRef.telegram(*telegram.add_file(DATA))
    assert await fetcher.fetch(ref) == DATA
    assert telegram.calls == ["getFile"]


async def test_telegram_failures(fetcher: InputFetcher, telegram: FakeTelegram) -> None:
    with pytest.raises(InputUnavailable):
        await fetcher.fetch(InputRef.telegram("AgAC-no-such-file", "AQAD-x"))
    with pytest.raises(InputTooLarge) as too_large:
        await fetcher.fetch(InputRef.telegram(*telegram.add_file(DATA + b"!")))
    # the engine's file-size code and params: one sentence whichever side caught it
    assert (too_large.value.code, too_large.value.params) == (
        "file_too_large",
        {"size": len(DATA) + 1, "max_bytes": fetcher.max_bytes},
    )
    ref = InputRef.telegram(*telegram.add_file(DATA))
    telegram.script("getFile").push(retry_after(4))
    with pytest.raises(JobFailure) as flooded:
        await fetcher.fetch(ref)
    assert (flooded.value.code, flooded.value.transient, flooded.value.retry_after) == (
        "input_fetch_failed",
        True,
        4.0,
    )
    telegram.script("file").push(server_error(503))
    with pytest.raises(JobFailure) as flaky:
        await fetcher.fetch(ref)
    assert flaky.value.transient and flaky.value.code == "input_fetch_failed"
    assert await fetcher.fetch(ref) == DATA


async def test_a_proxys_html_502_on_get_file_is_a_transient_fetch_failure(
    fetcher: InputFetcher, telegram: FakeTelegram
) -> None:
    ref = InputRef.telegram(*telegram.add_file(DATA))
    telegram.script("getFile").push(proxy_error(502))
    with pytest.raises(JobFailure) as flaky:
        await fetcher.fetch(ref)
    assert (flaky.value.code, flaky.value.transient) == ("input_fetch_failed", True)
    assert await fetcher.fetch(ref) == DATA


async def test_urls_are_downloaded_with_a_size_cap() -> None:
    with FakeDiscord() as discord:
        fetcher = InputFetcher(max_bytes=len(DATA), url_policy=discord.url_policy())
        url, attachment = discord.add_attachment(DATA)
        assert await fetcher.fetch(InputRef.discord(url, attachment)) == DATA
        big, big_id = discord.add_attachment(DATA * 3)
        with pytest.raises(InputTooLarge):
            await fetcher.fetch(InputRef.discord(big, big_id))
        with pytest.raises(InputUnavailable):  # an expired or deleted attachment
            await fetcher.fetch(InputRef.discord(f"{discord.url}/attachments/1/gone.png", 1))
        discord.script("attachment").push(server_error(503))
        with pytest.raises(JobFailure) as flaky:
            await fetcher.fetch(InputRef.discord(url, attachment))
        assert flaky.value.transient
        await fetcher.close()


async def test_local_files(fetcher: InputFetcher, tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(DATA)
    ref = InputRef.local(path)
    assert await fetcher.fetch(ref) == DATA
    path.unlink()
    with pytest.raises(InputUnavailable):
        await fetcher.fetch(ref)
