"""Queue fixtures: real Redis (its own database number, a fresh queue name per test), real Postgres and
SQLite built by the migrations, a fake Telegram Bot API server talked to by aiogram, and the instant
square engine. ``harness`` runs a test once on ARQ (Postgres) and once on the in-process runner
(SQLite, the embedded default)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from sqlalchemy import select

from bot.texts import Catalogue
from db import jobs as db_jobs
from db import ledger
from db.jobs import Delivery
from db.models import Job, LedgerEntry
from db.session import Database
from engine.factory import EngineBundle, EngineSpec
from jobs.arq_transport import ArqTransport, connect
from jobs.client import JobClient
from jobs.config import QueueConfig, TelegramConfig
from jobs.execute import Executor, new_worker_id
from jobs.fetch import InputFetcher
from jobs.local import LocalRunner
from jobs.notify.telegram import TelegramNotifier
from jobs.notify.teller import Teller
from jobs.operations import Operations
from jobs.platforms.telegram import telegram_bot
from jobs.request import InputRef, JobRequest
from jobs.sweeper import Sweeper
from jobs.transport import Transport
from jobs.worker import create_worker
from tests.db.conftest import fresh_postgres, make_user, migrated, sqlite_url
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.squares import SquareEngine, picture, png

# Our own Redis database: FLUSHDB here (the "Redis lost everything" test) touches nobody else's keys.
REDIS_URL = "redis://localhost:6379/11"

RED, BLUE, GREEN = (0, 0, 255), (255, 0, 0), (0, 200, 0)


def queue_config(**changes: Any) -> QueueConfig:
    """Short timeouts and backoffs: a retry waits tens of milliseconds, a dead worker is noticed in 1 s."""
    base = QueueConfig(
        redis_url=REDIS_URL,
        queue_name=f"swapbot:test:{uuid.uuid4().hex[:10]}",
        concurrency=4,
        engine_slots=2,
        job_timeout_s=10.0,
        delivery_timeout_s=5.0,
        max_tries=3,
        retry_base_s=0.05,
        retry_max_s=0.2,
        poll_delay_s=0.01,
        lease_grace_s=1.0,
        shutdown_grace_s=0.0,  # closing interrupts what a test left running (one test asks for more)
        lost_after_s=0.0,
        sweep_interval_s=0.5,
    )
    return replace(base, **changes)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout_s`` (not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def upload_started(telegram: FakeTelegram, timeout_s: float = 20) -> None:
    """Wait until the worker's sendPhoto has reached the fake Bot API (which a scripted ``hang`` then
    holds: the upload is in flight)."""

    async def started() -> bool:
        return "sendPhoto" in telegram.calls

    await until(started, timeout_s, "the upload to start")


@pytest.fixture(scope="session")
async def pg() -> AsyncIterator[Database]:
    async with fresh_postgres("swapbot_jobs", pool=20) as db:
        yield db


@pytest.fixture(scope="session")
async def sqlite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated(sqlite_url(tmp_path_factory.mktemp("jobs"))) as db:
        yield db


@pytest.fixture(scope="session", autouse=True)
async def clean_redis() -> AsyncIterator[None]:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.flushdb()
        yield
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@dataclass
class Harness:
    """One queue, its worker side and its bot side, against a fake Telegram."""

    kind: str  # "arq" or "local"
    db: Database
    config: QueueConfig
    engine: SquareEngine
    telegram: FakeTelegram
    bot: Bot
    teller: Teller
    executor: Executor
    transport: Transport
    client: JobClient
    sweeper: Sweeper
    runner: LocalRunner | None = None
    chat: int = field(default_factory=lambda: random.randint(10**8, 10**9))
    users: list[int] = field(default_factory=list)

    async def drain(self) -> None:
        """Run workers until no job waits, runs or waits to be retried: an ARQ worker in burst mode,
        or the in-process runner until idle."""
        if self.runner is not None:
            self.runner.start(self.executor)
            await self.runner.wait_idle()
            return

        async def startup(ctx: dict[str, Any]) -> Executor:
            return self.executor

        worker = create_worker(self.config, startup=startup, burst=True, handle_signals=False)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    async def user(self, balance: int = 10) -> int:
        user_id = await make_user(self.db, balance)
        self.users.append(user_id)
        return user_id

    async def request(
        self,
        user_id: int,
        *,
        target: bytes | None = None,
        source: bytes | None = None,
        cost: int = 1,
        params: dict[str, Any] | None = None,
        status_message: bool = True,
    ) -> JobRequest:
        """A swap of a blue source square onto a red target square, inputs held by the fake Telegram."""
        target_id = self.telegram.add_file(target if target is not None else png(picture((RED, 20, 20))))
        source_id = self.telegram.add_file(source if source is not None else png(picture((BLUE, 50, 30))))
        message = None
        if status_message:
            message = str((await self.bot.send_message(self.chat, "Got it.")).message_id)
        return JobRequest(
            user_id=user_id,
            kind="swap",
            target=InputRef.telegram(*target_id),
            source=InputRef.telegram(*source_id),
            params=params or {},
            cost=cost,
            delivery=Delivery("telegram", str(self.chat), message),
        )

    async def job(self, job_id: str) -> Job:
        async with self.db.session() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            return job

    async def balance(self, user_id: int) -> int:
        async with self.db.session() as session:
            return await ledger.balance(session, user_id)

    async def ledger_keys(self, job_id: str) -> list[str]:
        """The ledger rows of one job (debit ``job:<id>``, refund ``refund:<id>``), in order."""
        async with self.db.session() as session:
            rows = await session.scalars(
                select(LedgerEntry.key)
                .where(LedgerEntry.key.in_([f"job:{job_id}", f"refund:{job_id}"]))
                .order_by(LedgerEntry.id)
            )
            return list(rows)


async def open_harness(
    kind: str, db: Database, telegram: FakeTelegram, *, engine: SquareEngine | None = None, **config: Any
) -> Harness:
    queue = queue_config(redis_url=REDIS_URL if kind == "arq" else None, **config)
    engine = engine or SquareEngine()
    bot = telegram_bot(TelegramConfig(telegram.token, telegram.url))
    teller = Teller(db, {"telegram": TelegramNotifier(bot)}, Catalogue())
    executor = Executor(
        db,
        Operations(EngineBundle(EngineSpec(), engine)),
        InputFetcher(telegram=bot),
        teller,
        queue,
        worker_id=f"test-{new_worker_id()}",
    )
    runner: LocalRunner | None = None
    transport: Transport
    if kind == "arq":
        transport = ArqTransport(await connect(REDIS_URL), queue.queue_name)
    else:
        runner = LocalRunner(concurrency=queue.concurrency, grace_s=queue.shutdown_grace_s)
        transport = runner
    client = JobClient(db, transport, teller=teller)
    sweeper = Sweeper(db, transport, queue, teller=teller)
    return Harness(
        kind, db, queue, engine, telegram, bot, teller, executor, transport, client, sweeper, runner
    )


async def close_harness(harness: Harness) -> None:
    gate = getattr(harness.engine, "gate", None)  # a real engine injected by a test has none
    if gate is not None:
        gate.set()  # free any engine thread a test left waiting
    # Tests share a database: a job this test left waiting must not show up in another's sweep. Its
    # queue entry goes too: job ids repeat across runs (a fresh database numbers users from 1 again), and
    # ARQ refuses to enqueue an id whose key a past run left behind.
    left: list[str] = []
    async with harness.db.transaction() as session:
        for user_id in harness.users:
            for job in await db_jobs.for_user(session, user_id, limit=1000):
                if job.status in ("queued", "running"):
                    await db_jobs.cancel(session, job.id, code="test_over")
                    left.append(job.id)
    for job_id in left:
        await harness.transport.remove(job_id)
    await harness.transport.close()
    harness.executor.close()
    await harness.executor.fetcher.close()
    await harness.bot.session.close()


@pytest.fixture(params=["arq", "local"])
async def harness(
    request: pytest.FixtureRequest, telegram: FakeTelegram, pg: Database, sqlite: Database
) -> AsyncIterator[Harness]:
    db = pg if request.param == "arq" else sqlite
    opened = await open_harness(request.param, db, telegram)
    try:
        yield opened
    finally:
        await close_harness(opened)
