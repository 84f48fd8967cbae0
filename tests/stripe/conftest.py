"""The Stripe harness: the real ``swapbot web`` app (``open_web`` on real Settings) served over HTTP on
a migrated Postgres database, the fake Stripe API for Checkout, and the fake Telegram and Discord APIs
recording what the buyer is told.

    async def test_x(shop: Shop) -> None:
        buyer = await shop.buyer("discord")
        session = await shop.session_for(buyer, 10)      # a real Checkout Session, via the fake Stripe
        response = await shop.post(stripe_server.event(COMPLETED, completed_session(session)))
        assert await shop.balance(buyer) == 10
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.flows import checkout
from bot.once import MemoryOnce
from bot.pricing import parse_packs
from bot.ratelimit import Limits, MemoryRateLimiter
from bot.services import BotConfig, Services, StripeCheckoutConfig
from bot.texts import Catalogue
from db import users
from db.models import User
from db.session import Database
from jobs.client import JobClient
from jobs.local import LocalRunner
from jobs.notify.teller import Teller
from swapbot.settings import Settings
from swapbot.web import open_web
from tests.db.conftest import create_pg_database, drop_pg_database, migrated, pg_url
from tests.fakes import discord_server
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.stripe_server import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, signature_header
from tests.fakes.telegram_server import FakeTelegram

SECRET = "stripe-tests-secret-key-0123456789abcdef"
PACKS = "10:100:199usd,50:450:899usd,7:70"  # the 7-credit pack has no Stripe price
SUCCESS_URL = "https://bot.example.org/paid"
CANCEL_URL = "https://bot.example.org/cancelled"


@pytest.fixture(scope="session")
async def stripe_pg_url() -> AsyncIterator[str]:
    name = await create_pg_database("swapbot_stripe")
    try:
        async with migrated(pg_url(name)):
            pass
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture(scope="session")
async def stripe_db(stripe_pg_url: str) -> AsyncIterator[Database]:
    db = Database(stripe_pg_url, pool_size=20, max_overflow=0)
    yield db
    await db.dispose()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


def config(fake_stripe: FakeStripe, *, telegram_checkout: bool = False) -> BotConfig:
    return BotConfig(
        secret_key=SECRET.encode(),
        packs=parse_packs(PACKS),
        stripe=StripeCheckoutConfig(
            SECRET_KEY, SUCCESS_URL, CANCEL_URL, fake_stripe.url, telegram_checkout=telegram_checkout
        ),
    )


@dataclass
class Shop:
    db: Database
    services: Services
    fake_stripe: FakeStripe
    telegram: FakeTelegram
    discord: FakeDiscord
    server: TestServer
    http: aiohttp.ClientSession

    async def buyer(self, platform: str = "discord", language: str | None = "en") -> User:
        external = str(uuid.uuid4().int % 10**17) if platform == "discord" else str(uuid.uuid4().int % 10**9)
        async with self.db.transaction() as session:
            user, _ = await users.get_or_create(session, platform, external, display_name="Buyer")
            user.language = language
        return user

    async def session_for(self, user: User, credits: int) -> dict[str, Any]:
        """A Checkout Session made by our checkout flow through the fake Stripe (as Stripe keeps it)."""
        link = await checkout.checkout(self.services, user, credits)
        assert link is not None
        return self.fake_stripe.sessions[link.session_id]

    async def post(
        self, payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {
            "Stripe-Signature": signature_header(payload, secret, timestamp=timestamp),
            "Content-Type": "application/json",
        }
        return await self.post_raw(payload, headers)

    async def post_raw(self, payload: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        url = self.server.make_url("/stripe/webhook")
        async with self.http.post(url, data=payload, headers=headers) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, body

    async def balance(self, user: User) -> int:
        async with self.db.session() as session:
            fresh = await session.get(User, user.id, populate_existing=True)
            assert fresh is not None
            return fresh.balance


def web_settings(
    url: str, *, telegram: FakeTelegram | None = None, discord: FakeDiscord | None = None
) -> Settings:
    env: dict[str, Any] = {
        "DATABASE_URL": url,
        "SWAPBOT_SECRET_KEY": SECRET,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "SWAPBOT_PACKS": PACKS,
    }
    if telegram is not None:
        env |= {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}
    if discord is not None:
        env |= {"DISCORD_BOT_TOKEN": discord_server.TOKEN, "DISCORD_API_URL": discord.api_url}
    return Settings(**env, _env_file=None)


@pytest.fixture
async def shop(
    stripe_pg_url: str,
    stripe_db: Database,
    fake_stripe: FakeStripe,
    telegram: FakeTelegram,
    discord: FakeDiscord,
) -> AsyncIterator[Shop]:
    services = Services(
        stripe_db,
        JobClient(stripe_db, LocalRunner(), teller=Teller(stripe_db, {}, Catalogue())),
        Catalogue(),
        config(fake_stripe),
        MemoryRateLimiter(Limits(burst=1000, per_minute=60_000, daily_cap=0)),
        MemoryOnce(),
    )
    settings = web_settings(stripe_pg_url, telegram=telegram, discord=discord)
    async with open_web(settings) as app:
        server = TestServer(app)
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                yield Shop(stripe_db, services, fake_stripe, telegram, discord, server, http)
        finally:
            await server.close()


def stale(seconds: int = 301) -> int:
    """A signature timestamp just past Stripe's 5-minute tolerance."""
    return int(time.time()) - seconds
