"""The web process (``swapbot web``, aiohttp): ``/healthz`` always, the Telegram webhook at
``/telegram/webhook`` when TELEGRAM_WEBHOOK_URL is set, the Stripe webhook at ``/stripe/webhook`` when
STRIPE_WEBHOOK_SECRET is set. Other platforms add their routes here."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiohttp import web
from sqlalchemy import text

from bot.telegram.app import WEBHOOK_PATH, WebhookHandler, set_webhook
from bot.texts import Catalogue
from db.session import Database
from jobs.metrics import exposition
from jobs.notify.direct import DirectMessages
from jobs.worker import EngineFactory, default_engine
from swapbot.bots import telegram_from_settings
from swapbot.settings import Settings
from swapbot.stripe_webhook import StripeWebhook
from swapbot.wiring import platform_configs, webhook_secret

log = logging.getLogger(__name__)

DATABASE = web.AppKey("database", Database)
DRAIN_TIMEOUT_S = 60.0  # in-flight requests on SIGTERM; within compose's 150 s stop_grace_period


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 when it does not (a load balancer takes us out)."""
    try:
        async with request.app[DATABASE].session() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=5)
    except Exception as exc:
        return web.json_response({"ok": False, "database": type(exc).__name__}, status=503)
    return web.json_response({"ok": True})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' scrape: this process's counters (payments, webhook updates' jobs, API errors)."""
    body, content_type = exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def web_app(
    database: Database, webhook: WebhookHandler | None = None, stripe: StripeWebhook | None = None
) -> web.Application:
    """The routes; with ``webhook`` the Telegram webhook at /telegram/webhook, with ``stripe`` the
    Stripe webhook at /stripe/webhook."""
    app = web.Application()
    app[DATABASE] = database
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if webhook is not None:
        webhook.register(app, WEBHOOK_PATH)
    if stripe is not None:
        stripe.register(app)
    return app


def stripe_webhook(settings: Settings, database: Database, stack: AsyncExitStack) -> StripeWebhook | None:
    """The Stripe webhook when STRIPE_WEBHOOK_SECRET is set; buyers are told on the platforms this
    process has tokens for (the clients close with ``stack``)."""
    if not settings.stripe_webhook_secret:
        return None
    telegram, discord = platform_configs(settings)
    messages = DirectMessages(telegram, discord) if telegram or discord else None
    if messages is not None:
        stack.push_async_callback(messages.close)
    return StripeWebhook(
        database,
        settings.resolved_secret_key.get_secret_value(),
        settings.stripe_webhook_secret,
        Catalogue(),
        messages,
    )


@asynccontextmanager
async def open_web(
    settings: Settings, *, engine_factory: EngineFactory = default_engine, migrate: bool = False
) -> AsyncIterator[web.Application]:
    """The app, with the Telegram bot behind its webhook when TELEGRAM_WEBHOOK_URL is set: the
    webhook is registered with Telegram (its secret and the update types handled) before serving."""
    async with AsyncExitStack() as stack:
        if settings.telegram_webhook_url:
            process = await stack.enter_async_context(
                telegram_from_settings(settings, engine_factory=engine_factory, migrate=migrate)
            )
            telegram = process.telegram
            secret = webhook_secret(settings)
            handler = WebhookHandler(telegram.dispatcher, telegram.bot, secret)
            database = telegram.services.db
            app = web_app(database, handler, stripe_webhook(settings, database, stack))
            await set_webhook(telegram.dispatcher, telegram.bot, settings.telegram_webhook_url, secret)
        else:
            database = Database(settings.database_url)
            stack.push_async_callback(database.dispose)
            app = web_app(database, stripe=stripe_webhook(settings, database, stack))
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
        # On SIGTERM cleanup stops listening, lets in-flight requests finish (up to the timeout), then
        # runs on_shutdown, where the Telegram webhook's update tasks are awaited: nothing is cut off.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=DRAIN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("serving on http://%s:%d", host, port)
            await stop.wait()
        finally:
            await runner.cleanup()
