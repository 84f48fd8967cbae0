"""The bots' parts, opened: ``Services`` (database, queue, catalogue, limits) from the configs that
swapbot/wiring.py maps, the Telegram bot and its dispatcher, the Discord bot, and their shutdown in
order. The runners (swapbot/runners.py) and the web process run them; tests open them the same way."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher

from bot.once import MemoryOnce, Once, RedisOnce
from bot.pending import MemoryPending, Pending, RedisPending
from bot.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from bot.services import Services
from bot.telegram.albums import AlbumPairs, MemoryAlbumPairs, RedisAlbumPairs
from bot.telegram.app import build_dispatcher, fsm_storage, prepare_bot, set_commands
from bot.texts import Catalogue
from db.session import Database, is_sqlite
from jobs.platforms.telegram import telegram_bot
from jobs.queue import Queue, open_queue
from jobs.worker import EngineFactory, default_engine
from swapbot.logging import also_redact
from swapbot.settings import Settings
from swapbot.wiring import (
    bot_config,
    derived_secrets,
    limits,
    result_markups,
    telegram_config,
    worker_config,
)

if TYPE_CHECKING:
    from bot.discord.client import SwapBot

log = logging.getLogger(__name__)


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


def open_albums(settings: Settings, stack: AsyncExitStack) -> AlbumPairs:
    """Album photos waiting for their pair: in Redis when REDIS_URL is set (an album's two updates may
    reach two bot processes), in memory otherwise; closed with ``stack``."""
    if not settings.redis_url:
        return MemoryAlbumPairs()
    albums = RedisAlbumPairs.from_url(settings.redis_url)
    stack.push_async_callback(albums.close)
    return albums


async def open_database(settings: Settings, stack: AsyncExitStack, *, migrate: bool) -> Database:
    """The database, disposed with ``stack``; brought to the latest schema first when ``migrate`` or
    when it is the embedded SQLite (which has no operator to run ``swapbot db upgrade``)."""
    db = Database(settings.database_url)
    stack.push_async_callback(db.dispose)
    if migrate or is_sqlite(settings.database_url):
        from db.migrate import upgrade_engine

        await upgrade_engine(db.engine)
    return db


def redact_derived(settings: Settings) -> None:
    """Start-up of a bot or the web process: the secrets it makes rather than reads (the embedded
    mode's generated key, the webhook secret derived from it) are hidden from every log line."""
    also_redact(*derived_secrets(settings))


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
    config = bot_config(settings)  # first: a missing secret key stops start-up before anything opens
    redact_derived(settings)
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
            markups=result_markups(settings, texts),  # the face pickers' buttons on numbered previews
        )
        stack.push_async_callback(queue.close)
        services = Services(db, queue.client, texts, config, limiter, once, open_pending(settings, stack))
        dispatcher = build_dispatcher(services, storage, open_albums(settings, stack))
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

    if not settings.discord_bot_token:
        raise ValueError("DISCORD_BOT_TOKEN is not set: there is no Discord bot to run")
    set_api_base(settings.discord_api_url)  # discord.py's REST base, for the whole process
    async with AsyncExitStack() as stack:
        queue: Queue | None = None
        if services is None:
            config = bot_config(settings)  # first: a missing secret key stops start-up before anything opens
            redact_derived(settings)
            db = await open_database(settings, stack, migrate=migrate)
            limiter, once = open_limits(settings, stack)
            texts = Catalogue()
            queue = await open_queue(
                worker_config(settings),
                db=db,
                texts=texts,
                engine_factory=engine_factory,
                markups=result_markups(settings, texts),
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
