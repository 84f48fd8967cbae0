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

from bot.services import BotConfig, Services
from bot.telegram.app import prepare_bot
from bot.telegram.keyboards import PickerMarkup
from bot.telegram.middlewares import OutgoingLimits
from bot.texts import Catalogue
from db import users
from db.models import User
from db.session import Database
from jobs.config import TelegramConfig
from jobs.platforms.telegram import telegram_bot
from jobs.queue import Queue
from swapbot.bots import open_telegram
from tests import harness
from tests.db.conftest import fresh_postgres, migrated, sqlite_url
from tests.fakes.telegram_server import FakeTelegram
from tests.harness import Jobs
from tests.safety.kit import agree_first

REDIS_URL = "redis://localhost:6379/12"  # our own database number: tests may flush it
SECRET = b"telegram-tests-secret-key-0123456789"
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
    jobs: Jobs  # the queue and the services (tests/harness.py)
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
        await self.jobs.drain()

    @property
    def queue(self) -> Queue:
        return self.jobs.queue

    @property
    def services(self) -> Services:
        return self.jobs.services

    async def balance(self, person: Person) -> int:
        return (await person.user()).balance

    _to_agree: set[int] = field(default_factory=set)
    _agreeing: dict[int, asyncio.Future[None]] = field(default_factory=dict)


def _sender(update: dict[str, Any]) -> dict[str, Any] | None:
    for kind in ("message", "callback_query", "pre_checkout_query"):
        if kind in update:
            found: dict[str, Any] | None = update[kind].get("from")
            return found
    return None


def _is_start(update: dict[str, Any]) -> bool:
    text = update.get("message", {}).get("text") or ""
    return text.split(maxsplit=1)[0].split("@")[0] == "/start" if text else False


def engine_for(request: pytest.FixtureRequest) -> Any:
    return harness.engine_for(request, "squares")


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
    jobs = await harness.open_jobs(
        db,
        engine,
        harness.worker_config(db, redis_url=redis_url),
        bot_config=config or BotConfig(secret_key=SECRET),
        markups={"telegram": PickerMarkup(texts)},  # the face picker's buttons, as swapbot wires them
        texts=texts,
        telegram_bot=bot,
        limiter=limiter,
        once=once,
    )
    app = await open_telegram(jobs.services, bot)  # the bot as swapbot opens it, on the harness's parts
    return TelegramHarness(telegram, bot, db, jobs, app.dispatcher, engine)


async def close_tg(tg: TelegramHarness) -> None:
    await tg.jobs.close()
    await tg.bot.session.close()


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
