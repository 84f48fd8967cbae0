"""The Telegram harness: the real dispatcher, aiogram's real HTTP session against the fake Bot API
(tests/fakes/telegram_server.py), Services on a migrated SQLite database with the in-process runner
(the instant square engine by default; ``@pytest.mark.engine("classic")`` for the real one), and
helpers that build real update dicts and feed them.

    async def test_x(tg: TelegramHarness) -> None:
        alice = tg.person()
        await tg.feed(alice.text("/start"))
        assert "free credits" in tg.telegram.texts_to(alice.id)[-1]

``tg_pg`` is the same on Postgres with ARQ on Redis (jobs run by ``tg.drain()``, an ARQ worker in
burst mode).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.once import MemoryOnce
from bot.ratelimit import Limits, MemoryRateLimiter
from bot.services import BotConfig, Services
from bot.telegram.app import build_dispatcher, prepare_bot
from bot.telegram.keyboards import PickerMarkup
from bot.telegram.middlewares import OutgoingLimits
from bot.texts import Catalogue
from db import users
from db.models import User
from db.session import Database
from engine.factory import EngineSpec
from jobs.config import QueueConfig, TelegramConfig, WorkerConfig
from jobs.platforms.telegram import telegram_bot
from jobs.queue import Queue, open_queue
from tests.db.conftest import fresh_postgres, migrated, sqlite_url
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine
from tests.safety.kit import agree_first

REDIS_URL = "redis://localhost:6379/12"  # our own database number: tests may flush it
SECRET = b"telegram-tests-secret-key-0123456789"
# Generous limits: a test meets the rate limiter only when it asks for it.
EASY_LIMITS = Limits(burst=1000, per_minute=60_000, daily_cap=0)
# No spacing of outgoing messages in tests (a test of the limits sets its own).
FREE_OUTGOING = OutgoingLimits(chat_burst=1000, overall_burst=10_000, overall_per_s=10_000.0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engine(name): the engine the tg harness runs (squares, classic)")


@pytest.fixture(scope="session")
async def tg_sqlite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated(sqlite_url(tmp_path_factory.mktemp("telegram"))) as db:
        yield db


@pytest.fixture(scope="session")
async def tg_postgres() -> AsyncIterator[Database]:
    async with fresh_postgres("swapbot_telegram", pool=20) as db:
        yield db


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


_ids = itertools.count(1)


@dataclass
class Person:
    """A Telegram user in a private chat with the bot, who builds the updates they would cause."""

    harness: TelegramHarness
    id: int
    first_name: str = "Alice"
    language_code: str | None = "en"
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}

    @property
    def sender(self) -> dict[str, Any]:
        sender: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            sender["language_code"] = self.language_code
        return sender

    def message(self, **content: Any) -> dict[str, Any]:
        """A ``message`` update with ``content`` (text, photo, document, caption, reply_to_message ...)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.sender,
            **content,
        }
        return self.harness.update(message=message)

    def text(self, text: str, **content: Any) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return (
            self.message(text=text, entities=entities, **content)
            if entities
            else self.message(text=text, **content)
        )

    def photo(self, data: bytes, *, caption: str | None = None, **content: Any) -> dict[str, Any]:
        """A compressed photo: ``data`` becomes a file on the fake (getFile and downloads serve it)."""
        file_id, unique = self.harness.telegram.add_file(data)
        sizes = [
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": 512,
                "height": 512,
                "file_size": len(data),
            }
        ]
        if caption is not None:
            content["caption"] = caption
            if caption.startswith("/"):
                content["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}
                ]
        return self.message(photo=sizes, **content)

    def document(
        self, data: bytes, *, file_name: str = "photo.jpg", mime_type: str = "image/jpeg", **content: Any
    ) -> dict[str, Any]:
        """A file sent uncompressed (``file_size`` is the real size: a 25 MB file says so)."""
        file_id, unique = self.harness.telegram.add_file(data)
        document = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.message(document=document, **content)

    def album(self, *photos: bytes) -> list[dict[str, Any]]:
        """Photos sent together: one update each, sharing a ``media_group_id``."""
        group = uuid.uuid4().hex[:16]
        return [self.photo(data, media_group_id=group) for data in photos]

    def press(self, data: str, message_id: int, *, message_text: str = "…") -> dict[str, Any]:
        """A ``callback_query``: the person pressed a button with ``data`` under the bot's message."""
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "text": message_text,
        }
        query = {
            "id": str(random.randint(10**15, 10**16)),
            "from": self.sender,
            "chat_instance": str(self.id),
            "message": message,
            "data": data,
        }
        return self.harness.update(callback_query=query)

    def pre_checkout(self, payload: str, amount: int, currency: str = "XTR") -> dict[str, Any]:
        query = {
            "id": str(random.randint(10**15, 10**16)),
            "from": self.sender,
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
        }
        return self.harness.update(pre_checkout_query=query)

    def paid(
        self,
        payload: str,
        amount: int,
        charge_id: str | None = None,
        currency: str = "XTR",
        provider_charge_id: str = "",
    ) -> dict[str, Any]:
        """A ``successful_payment`` message (deliver the same dict twice for a duplicated update); a card
        payment carries the provider's (Stripe's) charge id too."""
        payment = {
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id or f"stxCharge{uuid.uuid4().hex[:12]}",
            "provider_payment_charge_id": provider_charge_id,
        }
        return self.message(successful_payment=payment)

    async def user(self) -> User:
        """This person's row in the database (after their first update)."""
        async with self.harness.db.session() as session:
            found = await users.find(session, "telegram", self.id)
        assert found is not None, f"telegram user {self.id} has no row"
        return found

    def texts(self) -> list[str]:
        """What the bot said to this person (sendMessage texts), in order."""
        return self.harness.telegram.texts_to(self.id)


@dataclass
class TelegramHarness:
    telegram: FakeTelegram
    bot: Bot
    db: Database
    queue: Queue
    services: Services
    dp: Dispatcher
    engine: Any
    _update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(random.randint(10**6, 10**7)))

    def update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **content}

    def person(
        self, first_name: str = "Alice", language_code: str | None = "en", *, agreed: bool = True
    ) -> Person:
        """A new Telegram user (a fresh id: tests share one database). ``agreed``: they have agreed to
        the terms in force by the time of their first update (tests of consent pass False)."""
        person = Person(self, random.randint(10**9, 2 * 10**9) + next(_ids), first_name, language_code)
        if agreed:
            self._to_agree.add(person.id)
        return person

    async def feed(self, *updates: dict[str, Any]) -> None:
        """Handle ``updates`` in order, as polling or the webhook would (errors go to the errors router)."""
        for update in updates:
            sender = _sender(update) or {}
            who = sender.get("id")
            if who in self._to_agree:  # once, and every update of theirs meanwhile waits for it
                self._to_agree.discard(who)
                agreeing = agree_first(
                    self.services,
                    "telegram",
                    who,
                    display_name=sender.get("first_name"),
                    language=sender.get("language_code"),
                )
                if _is_start(update):
                    # /start stays a first contact (its welcome says so): agreed right after it.
                    await self.dp.feed_raw_update(self.bot, update)
                    await agreeing
                    continue
                self._agreeing[who] = asyncio.ensure_future(agreeing)
            if who in self._agreeing:
                await self._agreeing[who]
            await self.dp.feed_raw_update(self.bot, update)

    async def idle(self) -> None:
        """Until no job waits or runs (and every result is delivered)."""
        await self.drain()

    async def drain(self) -> None:
        runner = self.queue.resources is not None and self.queue.transport
        if runner:
            await self.queue.transport.wait_idle()  # type: ignore[attr-defined]
            return
        from jobs.worker import create_worker

        executor = self._executor

        async def startup(ctx: dict[str, Any]) -> Any:
            return executor

        worker = create_worker(self._config.queue, startup=startup, burst=True, handle_signals=False)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    async def balance(self, person: Person) -> int:
        return (await person.user()).balance

    _to_agree: set[int] = field(default_factory=set)
    _agreeing: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    # set for the ARQ variant only
    _executor: Any = None
    _config: WorkerConfig | None = None


def _sender(update: dict[str, Any]) -> dict[str, Any] | None:
    for kind in ("message", "callback_query", "pre_checkout_query"):
        if kind in update:
            found: dict[str, Any] | None = update[kind].get("from")
            return found
    return None


def _is_start(update: dict[str, Any]) -> bool:
    text = update.get("message", {}).get("text") or ""
    return text.split(maxsplit=1)[0].split("@")[0] == "/start" if text else False


def worker_config(db: Database, *, redis_url: str | None = None) -> WorkerConfig:
    return WorkerConfig(
        database_url=str(db.url),
        queue=QueueConfig(
            redis_url=redis_url,
            queue_name=f"swapbot:test:{uuid.uuid4().hex[:10]}",
            concurrency=4,
            engine_slots=1,
            job_timeout_s=60.0,
            delivery_timeout_s=20.0,
            retry_base_s=0.05,
            retry_max_s=0.2,
            poll_delay_s=0.01,
            lease_grace_s=1.0,
            sweep_interval_s=3600.0,
        ),
        engine=EngineSpec(),
    )


def engine_for(request: pytest.FixtureRequest) -> Any:
    marker = request.node.get_closest_marker("engine")
    name = marker.args[0] if marker else "squares"
    if name == "squares":
        return SquareEngine()
    from engine.factory import build_engine

    return build_engine(EngineSpec(name=name))


async def open_tg(
    db: Database,
    telegram: FakeTelegram,
    engine: Any,
    *,
    config: BotConfig | None = None,
    limiter: Any = None,
    once: Any = None,
    redis_url: str | None = None,
    outgoing: OutgoingLimits = FREE_OUTGOING,
) -> TelegramHarness:
    bot = prepare_bot(telegram_bot(TelegramConfig(telegram.token, telegram.url)), outgoing)
    texts = Catalogue()
    wcfg = worker_config(db, redis_url=redis_url)
    queue = await open_queue(
        wcfg,
        db=db,
        telegram_bot=bot,
        texts=texts,
        engine_factory=lambda spec: engine,
        markups={"telegram": PickerMarkup(texts)},  # the face picker's buttons, as swapbot wires them
    )
    services = Services(
        db=db,
        jobs=queue.client,
        texts=texts,
        config=config or BotConfig(secret_key=SECRET),
        limiter=limiter or MemoryRateLimiter(EASY_LIMITS),
        once=once or MemoryOnce(),
    )
    harness = TelegramHarness(telegram, bot, db, queue, services, build_dispatcher(services), engine)
    if redis_url:
        from jobs.worker import build_resources

        resources = await build_resources(
            wcfg,
            queue.transport,
            engine_factory=lambda spec: engine,
            texts=texts,
            crons=False,
            db=db,
            telegram_bot=bot,
            markups={"telegram": PickerMarkup(texts)},
        )
        harness._executor = resources.executor
        harness._config = wcfg
        harness._resources = resources  # type: ignore[attr-defined]
    return harness


async def close_tg(harness: TelegramHarness) -> None:
    resources = getattr(harness, "_resources", None)
    await harness.queue.close()
    if resources is not None:
        await resources.close()
    await harness.services.limiter.close()
    await harness.services.once.close()
    await harness.bot.session.close()


@pytest.fixture
async def tg(
    request: pytest.FixtureRequest, telegram: FakeTelegram, tg_sqlite: Database
) -> AsyncIterator[TelegramHarness]:
    """The embedded mode: SQLite, the in-process runner, memory limits."""
    harness = await open_tg(tg_sqlite, telegram, engine_for(request))
    try:
        yield harness
    finally:
        await close_tg(harness)


@pytest.fixture
async def tg_pg(
    request: pytest.FixtureRequest, telegram: FakeTelegram, tg_postgres: Database
) -> AsyncIterator[TelegramHarness]:
    """At scale: Postgres, ARQ on Redis (``drain`` runs a burst worker)."""
    harness = await open_tg(tg_postgres, telegram, engine_for(request), redis_url=REDIS_URL)
    try:
        yield harness
    finally:
        await close_tg(harness)


@pytest.fixture(params=["local", "arq"])
async def tg_both(
    request: pytest.FixtureRequest, telegram: FakeTelegram, tg_sqlite: Database, tg_postgres: Database
) -> AsyncIterator[TelegramHarness]:
    """A test run twice: embedded (SQLite, in-process runner) and at scale (Postgres, ARQ)."""
    arq = request.param == "arq"
    db = tg_postgres if arq else tg_sqlite
    harness = await open_tg(db, telegram, engine_for(request), redis_url=REDIS_URL if arq else None)
    try:
        yield harness
    finally:
        await close_tg(harness)
