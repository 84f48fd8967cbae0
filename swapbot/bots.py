"""The bots, opened in two layers. ``open_telegram`` and ``open_discord`` make a bot on parts already
built (the ``Services``, aiogram's ``Bot``): the test harnesses call them on their own parts.
``telegram_from_settings`` and ``discord_from_settings`` build those parts from the configs that
swapbot/wiring.py maps (database, queue, catalogue, limits), open the bot on them, and shut everything
down in order. The runners (swapbot/runners.py) and the web process run those."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage

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
from swapbot.settings import Settings
from swapbot.wiring import (
    bot_config,
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


@dataclass
class TelegramBot:
    services: Services
    bot: Bot
    dispatcher: Dispatcher


async def open_telegram(
    services: Services,
    bot: Bot,
    *,
    storage: BaseStorage | None = None,
    albums: AlbumPairs | None = None,
) -> TelegramBot:
    """The Telegram bot on parts already built: the dispatcher over ``services`` (``storage``: the FSM
    storage, ``albums``: album photos waiting for their pair; in memory when None), and the command
    menu set with Telegram. The caller owns the parts and closes them: the queue before the ``Bot``'s
    session, which workers deliver through."""
    dispatcher = build_dispatcher(services, storage, albums)
    try:
        await set_commands(bot, services)
    except Exception as exc:  # the menu is a nicety: a bot that cannot set it still serves
        log.warning("could not set the command menu: %s", type(exc).__name__)
    return TelegramBot(services, bot, dispatcher)


def open_discord(
    services: Services, *, dev_guild_id: int | None = None, sync_commands: bool = True
) -> SwapBot:
    """The Discord bot on ``services`` (not yet logged in: ``bot.discord.app.run_gateway`` does that);
    its commands are synced at login (to ``dev_guild_id`` when set) unless ``sync_commands`` is False.
    The caller closes it before the queue under ``services``."""
    from bot.discord.client import SwapBot

    return SwapBot(services, dev_guild_id=dev_guild_id, sync_commands=sync_commands)


# --- From the settings -------------------------------------------------------------------------------


@dataclass
class BotParts:
    """What one process's bots stand on, built from the settings: the services and the queue."""

    settings: Settings
    services: Services
    queue: Queue


async def open_parts(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    engine_factory: EngineFactory,
    migrate: bool,
    telegram_bot: Bot | None = None,
) -> BotParts:
    """The database, limits, catalogue, queue (ARQ with REDIS_URL, else jobs in this process, the engine
    then loaded here) and pending answers, closed with ``stack`` in order: the queue first (running
    jobs go back to queued), then the limits and the database. ``telegram_bot``: the workers deliver
    through it. Raises ``SecretKeyError`` before anything connects when there is no usable key."""
    config = bot_config(settings)
    db = await open_database(settings, stack, migrate=migrate)
    limiter, once = open_limits(settings, stack)
    texts = Catalogue()
    queue = await open_queue(
        worker_config(settings),
        db=db,
        telegram_bot=telegram_bot,
        texts=texts,
        engine_factory=engine_factory,
        markups=result_markups(settings, texts),  # the face pickers' buttons on numbered previews
    )
    stack.push_async_callback(queue.close)
    services = Services(db, queue.client, texts, config, limiter, once, open_pending(settings, stack))
    return BotParts(settings, services, queue)


@dataclass
class TelegramProcess(BotParts):
    telegram: TelegramBot


@asynccontextmanager
async def telegram_from_settings(
    settings: Settings, *, engine_factory: EngineFactory = default_engine, migrate: bool = False
) -> AsyncIterator[TelegramProcess]:
    """The Telegram bot on ``settings``, on parts built from them. ``migrate`` brings the database to
    the latest schema first (``swapbot run``; always on the embedded SQLite, which has no operator to
    run ``swapbot db upgrade``). On exit: the queue stops first, then the limits, the FSM storage, the
    ``Bot``'s session and the database."""
    async with AsyncExitStack() as stack:
        bot = prepare_bot(telegram_bot(telegram_config(settings)))
        stack.push_async_callback(bot.session.close)
        storage = fsm_storage(settings.redis_url)
        stack.push_async_callback(storage.close)
        parts = await open_parts(
            settings, stack, engine_factory=engine_factory, migrate=migrate, telegram_bot=bot
        )
        telegram = await open_telegram(
            parts.services, bot, storage=storage, albums=open_albums(settings, stack)
        )
        yield TelegramProcess(settings, parts.services, parts.queue, telegram)


@asynccontextmanager
async def discord_from_settings(
    settings: Settings,
    *,
    engine_factory: EngineFactory = default_engine,
    migrate: bool = False,
    services: Services | None = None,
) -> AsyncIterator[SwapBot]:
    """The Discord bot on ``settings`` (not yet logged in), on parts built from them; ``services``:
    share another bot's (``swapbot run`` with both tokens: one database, one queue, one set of limits).
    On exit: the bot closes first, then the queue, the limits and the database."""
    from jobs.platforms.discord import set_api_base

    if not settings.discord_bot_token:
        raise ValueError("DISCORD_BOT_TOKEN is not set: there is no Discord bot to run")
    set_api_base(settings.discord_api_url)  # discord.py's REST base, for the whole process
    async with AsyncExitStack() as stack:
        if services is None:
            parts = await open_parts(settings, stack, engine_factory=engine_factory, migrate=migrate)
            services = parts.services
        bot = open_discord(
            services, dev_guild_id=settings.discord_dev_guild_id, sync_commands=settings.discord_sync_commands
        )
        stack.push_async_callback(bot.close)
        yield bot
