"""swapbot/bots.py: Services from Settings, embedded and with Redis."""

from __future__ import annotations

import random
from pathlib import Path

from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from bot.once import MemoryOnce, RedisOnce
from bot.ratelimit import MemoryRateLimiter, RedisRateLimiter
from jobs.arq_transport import ArqTransport
from jobs.local import LocalRunner
from swapbot.bots import telegram_from_settings
from swapbot.settings import Settings
from swapbot.wiring import bot_config, webhook_secret
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine
from tests.telegram.conftest import REDIS_URL


def _settings(tmp_path: Path, **values: str) -> Settings:
    base = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", "SWAPBOT_MODELS_DIR": str(tmp_path)}
    return Settings(**(base | values), _env_file=None)  # type: ignore[arg-type]


def test_bot_config_offers_what_is_set_up(tmp_path: Path) -> None:
    plain = bot_config(_settings(tmp_path))
    assert plain.caricature_styles == ("warp", "cartoon", "both")
    assert plain.restorers == ()
    assert plain.secret_key  # generated beside the embedded SQLite file

    (tmp_path / "GFPGANv1.4.onnx").write_bytes(b"only its presence is checked")
    config = bot_config(
        _settings(
            tmp_path,
            OPENAI_API_KEY="sk-test",
            REPLICATE_API_TOKEN="r8_test",  # no REPLICATE_MODEL: the replicate style stays off
            SWAPBOT_ADMIN_IDS="telegram:42",
            SWAPBOT_FREE_CREDITS="5",
            TELEGRAM_PAYMENT_PROVIDER_TOKEN="284685063:TEST:abc",
        )
    )
    assert config.caricature_styles == ("warp", "cartoon", "both", "openai")
    assert config.restorers == ("gfpgan",)
    assert config.is_admin("telegram", 42) and not config.is_admin("discord", 42)
    assert config.free_credits == 5
    assert config.stripe_provider_token == "284685063:TEST:abc"


def test_the_webhook_secret_is_given_or_derived(tmp_path: Path) -> None:
    assert webhook_secret(_settings(tmp_path, TELEGRAM_WEBHOOK_SECRET="given-1")) == "given-1"
    derived = webhook_secret(_settings(tmp_path, SWAPBOT_SECRET_KEY="k" * 40))
    assert derived == webhook_secret(_settings(tmp_path, SWAPBOT_SECRET_KEY="k" * 40))
    assert derived != webhook_secret(_settings(tmp_path, SWAPBOT_SECRET_KEY="j" * 40))


async def _start_answered(telegram: FakeTelegram, settings: Settings) -> tuple[type, ...]:
    # Fresh ids: Redis remembers handled updates for a day.
    chat, update_id = random.randint(10**9, 2 * 10**9), random.randint(10**6, 10**9)
    async with telegram_from_settings(settings, engine_factory=lambda spec: SquareEngine()) as process:
        bot = process.telegram
        update = {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": chat, "type": "private", "first_name": "Z"},
                "from": {"id": chat, "is_bot": False, "first_name": "Z"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        await bot.dispatcher.feed_raw_update(bot.bot, update)
        assert "free credits" in telegram.texts_to(chat)[0]
        return (
            type(bot.services.limiter),
            type(bot.services.once),
            type(bot.dispatcher.storage),
            type(process.queue.transport),
        )


async def test_embedded_bot_keeps_everything_in_process(telegram: FakeTelegram, tmp_path: Path) -> None:
    settings = _settings(tmp_path, TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.url)
    kinds = await _start_answered(telegram, settings)
    assert kinds == (MemoryRateLimiter, MemoryOnce, MemoryStorage, LocalRunner)


async def test_with_redis_limits_marks_conversations_and_jobs_are_shared(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = _settings(
        tmp_path, TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.url, REDIS_URL=REDIS_URL
    )
    kinds = await _start_answered(telegram, settings)
    assert kinds == (RedisRateLimiter, RedisOnce, RedisStorage, ArqTransport)
