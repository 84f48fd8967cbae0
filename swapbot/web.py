"""The web process (``swapbot web``, aiohttp): ``/healthz`` always, the Telegram webhook at
``/telegram/webhook`` when TELEGRAM_WEBHOOK_URL is set. Other platforms add their routes here."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiohttp import web
from sqlalchemy import text

from bot.telegram.app import WEBHOOK_PATH, WebhookHandler, set_webhook
from db.session import Database
from jobs.worker import EngineFactory, default_engine
from swapbot.bots import open_telegram, webhook_secret
from swapbot.settings import Settings

log = logging.getLogger(__name__)

DATABASE = web.AppKey("database", Database)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 when it does not (a load balancer takes us out)."""
    try:
        async with request.app[DATABASE].session() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=5)
    except Exception as exc:
        return web.json_response({"ok": False, "database": type(exc).__name__}, status=503)
    return web.json_response({"ok": True})


def web_app(database: Database, webhook: WebhookHandler | None = None) -> web.Application:
    """The routes; with ``webhook`` the Telegram webhook at /telegram/webhook."""
    app = web.Application()
    app[DATABASE] = database
    app.router.add_get("/healthz", healthz)
    if webhook is not None:
        webhook.register(app, WEBHOOK_PATH)
    return app


@asynccontextmanager
async def open_web(
    settings: Settings, *, engine_factory: EngineFactory = default_engine, migrate: bool = False
) -> AsyncIterator[web.Application]:
    """The app, with the Telegram bot behind its webhook when TELEGRAM_WEBHOOK_URL is set: the
    webhook is registered with Telegram (its secret and the update types handled) before serving."""
    async with AsyncExitStack() as stack:
        if settings.telegram_webhook_url:
            telegram = await stack.enter_async_context(
                open_telegram(settings, engine_factory=engine_factory, migrate=migrate)
            )
            secret = webhook_secret(settings)
            handler = WebhookHandler(telegram.dispatcher, telegram.bot, secret)
            app = web_app(telegram.services.db, handler)
            await set_webhook(telegram.dispatcher, telegram.bot, settings.telegram_webhook_url, secret)
        else:
            database = Database(settings.database_url)
            stack.push_async_callback(database.dispose)
            app = web_app(database)
        yield app


async def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    engine_factory: EngineFactory = default_engine,
    migrate: bool = False,
) -> None:
    """Serve until SIGINT or SIGTERM; updates being handled are finished before the bot closes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_web(settings, engine_factory=engine_factory, migrate=migrate) as app:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("serving on http://%s:%d", host, port)
            await stop.wait()
        finally:
            await runner.cleanup()
