"""The dispatcher built from the services, and the bot's two ways in: long polling and the webhook.

``build_dispatcher`` wires the middlewares (dedupe, user, language, throttling) and every feature's
router; handlers get ``services``, ``user``, ``new_user``, ``t`` (see bot/telegram/middlewares) and
``albums``.
``prepare_bot`` puts Telegram's sending limits on a Bot's session; ``WebhookHandler`` is the aiohttp
route for ``/telegram/webhook``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand
from aiohttp import web

from bot.services import Services
from bot.telegram.albums import AlbumPairs, MemoryAlbumPairs
from bot.telegram.middlewares import (
    CatalogueI18n,
    DedupeMiddleware,
    LanguageMiddleware,
    LogContextMiddleware,
    OutgoingLimits,
    OutgoingMiddleware,
    ThrottlingMiddleware,
    UserMiddleware,
)
from bot.telegram.routers import routers

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# The command menu Telegram shows (setMyCommands); each description is the code ``command_<name>``.
COMMANDS = (
    "start",
    "help",
    "swap",
    "setface",
    "faces",
    "caricature",
    "settings",
    "balance",
    "history",
    "cancel",
    "buy",
    "privacy",
    "forget",
    "paysupport",
    "terms",
)


def build_dispatcher(
    services: Services, storage: BaseStorage | None = None, albums: AlbumPairs | None = None
) -> Dispatcher:
    """The dispatcher: ``services`` in its workflow data, FSM ``storage`` (memory when None; see
    ``fsm_storage``), the albums waiting for their pair (memory when None; bot/telegram/albums.py),
    the middlewares in order, then the routers."""
    dispatcher = Dispatcher(
        storage=storage or MemoryStorage(), services=services, albums=albums or MemoryAlbumPairs()
    )
    dispatcher.update.outer_middleware(LogContextMiddleware())  # update and sender ids on every line
    dispatcher.update.outer_middleware(DedupeMiddleware())
    dispatcher.update.outer_middleware(UserMiddleware())
    dispatcher.update.outer_middleware(LogContextMiddleware())  # ...and our user id
    dispatcher.update.outer_middleware(LanguageMiddleware(CatalogueI18n(services.texts)))
    # Inner: only updates a handler takes are throttled (and only its WORK flag counts as work).
    throttling = ThrottlingMiddleware()
    dispatcher.message.middleware(throttling)
    dispatcher.callback_query.middleware(throttling)
    dispatcher.include_routers(*routers())
    return dispatcher


def fsm_storage(redis_url: str | None) -> BaseStorage:
    """Redis when REDIS_URL is set (conversations survive a restart and span processes), else memory."""
    if redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(redis_url)
    return MemoryStorage()


def prepare_bot(bot: Bot, limits: OutgoingLimits | None = None) -> Bot:
    """Every call ``bot`` makes waits its turn under Telegram's limits and outlives 429s."""
    bot.session.middleware(OutgoingMiddleware(limits))
    return bot


async def set_commands(bot: Bot, services: Services) -> None:
    """The command menu, in every language the catalogue has."""
    for language in services.texts.languages:
        commands = [
            BotCommand(command=name, description=services.texts.text(f"command_{name}", language)[:256])
            for name in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=None if language == "en" else language)


async def run_polling(dispatcher: Dispatcher, bot: Bot, *, handle_signals: bool = True) -> None:
    """Long polling until stopped: a webhook left from webhook mode is removed first (Telegram refuses
    getUpdates while one is set); only the update types the routers handle are asked for."""
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(
        bot,
        allowed_updates=dispatcher.resolve_used_update_types(),
        handle_signals=handle_signals,
        close_bot_session=False,
    )


class WebhookHandler:
    """``POST /telegram/webhook``: a request without the right secret header gets 403 and nothing is
    handled; a good one is answered 200 at once and its update handled after (Telegram waits for
    the answer before sending the next update, and retries a slow one)."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret: str) -> None:
        if not secret:
            raise ValueError("the webhook needs a secret token")
        self.dispatcher = dispatcher
        self.bot = bot
        self.secret = secret
        self._tasks: set[asyncio.Task[Any]] = set()

    def register(self, app: web.Application, path: str = WEBHOOK_PATH) -> None:
        app.router.add_post(path, self.handle)
        app.on_shutdown.append(self._on_shutdown)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=403, text="Forbidden")
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(update, dict) or "update_id" not in update:
            return web.Response(status=400, text="not an update")
        task = asyncio.create_task(self._feed(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=200)

    async def _feed(self, update: dict[str, Any]) -> None:
        try:
            await self.dispatcher.feed_raw_update(self.bot, update)
        except Exception:  # the errors router answered what it could; one update never stops the rest
            log.exception("update %s failed", update.get("update_id"))

    async def drain(self) -> None:
        """Wait for the updates being handled (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.drain()


async def set_webhook(dispatcher: Dispatcher, bot: Bot, url: str, secret: str) -> None:
    """Register ``url`` with Telegram: its secret token and the update types the routers handle."""
    await bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=dispatcher.resolve_used_update_types(),
        drop_pending_updates=False,
    )
