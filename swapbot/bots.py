"""The bots' composition: ``Services`` from ``Settings`` (database, queue, catalogue, limits), the
Telegram bot and its dispatcher, the Discord bot, and their shutdown in order. The command line
(swapbot/cli.py) runs them; tests open them the same way."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher

from bot.once import MemoryOnce, Once, RedisOnce
from bot.pending import MemoryPending, Pending, RedisPending
from bot.ratelimit import Limits, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from bot.services import BotConfig, Services, StripeAccount, StripeCheckoutConfig
from bot.telegram.app import build_dispatcher, fsm_storage, prepare_bot, set_commands
from bot.telegram.keyboards import PickerMarkup
from bot.texts import Catalogue
from db.session import Database, is_sqlite
from engine.choices import LOCAL_STYLES, RESTORERS
from jobs.config import TelegramConfig
from jobs.platforms.telegram import telegram_bot
from jobs.queue import Queue, open_queue
from jobs.worker import EngineFactory, default_engine
from swapbot.logging import also_redact
from swapbot.settings import Settings

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

log = logging.getLogger(__name__)

# The model file each restorer needs (engine/models/registry.py names them).
RESTORER_MODELS = {"gfpgan": "gfpgan_1.4", "codeformer": "codeformer"}


def caricature_styles(settings: Settings) -> tuple[str, ...]:
    """Local styles always; a remote one only when its service is set up."""
    remote = []
    if settings.openai_api_key:
        remote.append("openai")
    if settings.replicate_api_token and settings.replicate_model:
        remote.append("replicate")
    return (*LOCAL_STYLES, *remote)


def restorers(settings: Settings) -> tuple[str, ...]:
    """The restorers whose model files are in SWAPBOT_MODELS_DIR (the paths are checked; nothing is
    loaded)."""
    from engine.models.registry import path_of, spec

    return tuple(
        name for name in RESTORERS if path_of(spec(RESTORER_MODELS[name]), settings.models_dir).is_file()
    )


def bot_config(settings: Settings) -> BotConfig:
    return BotConfig(
        secret_key=settings.resolved_secret_key.get_secret_value(),
        free_credits=settings.free_credits,
        admins=settings.admin_ids,
        packs=settings.packs,
        retention_hours=settings.retention_hours,
        terms_version=settings.terms_version,
        report_ban_threshold=settings.report_ban_threshold,
        caricature_styles=caricature_styles(settings),
        restorers=restorers(settings),
        stripe_provider_token=settings.telegram_payment_provider_token or None,
        stripe=stripe_checkout(settings),
        stripe_account=stripe_account(settings),
    )


def stripe_account(settings: Settings) -> StripeAccount | None:
    """The Stripe API (card refunds) whenever STRIPE_SECRET_KEY is set, Checkout or not."""
    if not settings.stripe_secret_key:
        return None
    return StripeAccount(settings.stripe_secret_key, settings.stripe_api_url)


def stripe_checkout(settings: Settings) -> StripeCheckoutConfig | None:
    """Stripe Checkout when its key and both return URLs are set; None otherwise."""
    key, success, cancel = settings.stripe_secret_key, settings.stripe_success_url, settings.stripe_cancel_url
    if not (key and success and cancel):
        return None
    return StripeCheckoutConfig(
        secret_key=key,
        success_url=success,
        cancel_url=cancel,
        api_url=settings.stripe_api_url,
        telegram_checkout=settings.telegram_stripe_checkout,
    )


def limits(settings: Settings) -> Limits:
    return Limits(
        burst=settings.rate_burst, per_minute=settings.rate_per_minute, daily_cap=settings.daily_cap
    )


def open_limits(settings: Settings, stack: AsyncExitStack) -> tuple[RateLimiter, Once]:
    """The per-user limiter and the once-marks: in Redis when REDIS_URL is set (shared by every bot
    process), in memory otherwise; closed with ``stack``."""
    limiter: RateLimiter
    once: Once
    if settings.redis_url:
        limiter = RedisRateLimiter.from_url(settings.redis_url, limits(settings))
        once = RedisOnce.from_url(settings.redis_url)
    else:
        limiter, once = MemoryRateLimiter(limits(settings)), MemoryOnce()
    stack.push_async_callback(limiter.close)
    stack.push_async_callback(once.close)
    return limiter, once


def open_pending(settings: Settings, stack: AsyncExitStack) -> Pending:
    """What waits for a person's answer (bot/pending.py): in Redis when REDIS_URL is set (a button may
    reach another bot process, or this one after a restart), in memory otherwise; closed with ``stack``."""
    pending: Pending = RedisPending.from_url(settings.redis_url) if settings.redis_url else MemoryPending()
    stack.push_async_callback(pending.close)
    return pending


async def open_database(settings: Settings, stack: AsyncExitStack, *, migrate: bool) -> Database:
    """The database, disposed with ``stack``; brought to the latest schema first when ``migrate`` or
    when it is the embedded SQLite (which has no operator to run ``swapbot db upgrade``)."""
    db = Database(settings.database_url)
    stack.push_async_callback(db.dispose)
    if migrate or is_sqlite(settings.database_url):
        from db.migrate import upgrade_engine

        await upgrade_engine(db.engine)
    return db


def telegram_config(settings: Settings) -> TelegramConfig:
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set: there is no Telegram bot to run")
    return TelegramConfig(settings.telegram_bot_token, settings.telegram_api_url)


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from SWAPBOT_SECRET_KEY (stable across restarts and
    processes, never guessable)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    key = settings.resolved_secret_key.get_secret_value()
    derived = hmac.new(key, b"telegram-webhook", hashlib.sha256).hexdigest()
    also_redact(derived)
    return derived


@dataclass
class TelegramBot:
    settings: Settings
    services: Services
    bot: Bot
    dispatcher: Dispatcher
    queue: Queue


@asynccontextmanager
async def open_telegram(
    settings: Settings, *, engine_factory: EngineFactory = default_engine, migrate: bool = False
) -> AsyncIterator[TelegramBot]:
    """The Telegram bot on ``settings``: jobs go to ARQ with REDIS_URL, else run in this process (the
    engine is then loaded here). ``migrate`` brings the database to the latest schema first (``swapbot
    run``; always on the embedded SQLite, which has no operator to run ``swapbot db upgrade``). On exit:
    the queue stops first (running jobs go back to queued), then the limits, the FSM storage, the Bot's
    session and the database."""
    from swapbot.cli import worker_config

    config = bot_config(settings)  # first: a missing secret key stops start-up before anything opens
    async with AsyncExitStack() as stack:
        db = await open_database(settings, stack, migrate=migrate)
        bot = prepare_bot(telegram_bot(telegram_config(settings)))
        stack.push_async_callback(bot.session.close)
        storage = fsm_storage(settings.redis_url)
        stack.push_async_callback(storage.close)
        limiter, once = open_limits(settings, stack)
        texts = Catalogue()
        queue = await open_queue(
            worker_config(settings),
            db=db,
            telegram_bot=bot,
            texts=texts,
            engine_factory=engine_factory,
            telegram_markup=PickerMarkup(texts),  # the face picker's buttons on analysis previews
        )
        stack.push_async_callback(queue.close)
        services = Services(db, queue.client, texts, config, limiter, once, open_pending(settings, stack))
        dispatcher = build_dispatcher(services, storage)
        try:
            await set_commands(bot, services)
        except Exception as exc:  # the menu is a nicety: a bot that cannot set it still serves
            log.warning("could not set the command menu: %s", type(exc).__name__)
        yield TelegramBot(settings, services, bot, dispatcher, queue)


# --- Discord -----------------------------------------------------------------------------------------


@dataclass
class DiscordBot:
    settings: Settings
    services: Services
    bot: SwapBot
    queue: Queue | None  # None when the services (and their queue) belong to another bot of this process

    @property
    def token(self) -> str:
        assert self.settings.discord_bot_token
        return self.settings.discord_bot_token


@asynccontextmanager
async def open_discord(
    settings: Settings,
    *,
    engine_factory: EngineFactory = default_engine,
    migrate: bool = False,
    services: Services | None = None,
) -> AsyncIterator[DiscordBot]:
    """The Discord bot on ``settings`` (not yet logged in: ``bot.discord.app.run_gateway`` does that).
    Jobs go to ARQ with REDIS_URL, else run in this process. ``services``: share another bot's (``swapbot
    run`` with both tokens: one database, one queue, one set of limits). On exit: the bot closes first,
    then the queue, the limits and the database."""
    from bot.discord.client import SwapBot
    from jobs.platforms.discord import set_api_base
    from swapbot.cli import worker_config

    if not settings.discord_bot_token:
        raise ValueError("DISCORD_BOT_TOKEN is not set: there is no Discord bot to run")
    set_api_base(settings.discord_api_url)  # discord.py's REST base, for the whole process
    async with AsyncExitStack() as stack:
        queue: Queue | None = None
        if services is None:
            config = bot_config(settings)  # first: a missing secret key stops start-up before anything opens
            db = await open_database(settings, stack, migrate=migrate)
            limiter, once = open_limits(settings, stack)
            texts = Catalogue()
            queue = await open_queue(
                worker_config(settings), db=db, texts=texts, engine_factory=engine_factory
            )
            stack.push_async_callback(queue.close)
            pending = open_pending(settings, stack)
            services = Services(db, queue.client, texts, config, limiter, once, pending)
        bot = SwapBot(
            services,
            dev_guild_id=settings.discord_dev_guild_id,
            sync_commands=settings.discord_sync_commands,
        )
        stack.push_async_callback(bot.close)
        yield DiscordBot(settings, services, bot, queue)
