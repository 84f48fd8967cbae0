"""The services both bots' harnesses stand on, built once for either platform: the real queue (the
in-process runner, or ARQ on Redis with a worker of its own that ``drain`` runs in bursts, as
``swapbot worker`` builds it), the catalogue, limits and marks, and the ``Services`` the bot gets. The
platform's own parts (aiogram's dispatcher, discord.py's client) sit on top, in tests/telegram and
tests/discord.

    jobs = await open_jobs(db, engine, markups={"telegram": PickerMarkup(texts)}, texts=texts, ...)
    ...
    await jobs.drain()   # until no job waits or runs
    await jobs.close()
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiogram import Bot

from bot.once import MemoryOnce
from bot.ratelimit import Limits, MemoryRateLimiter
from bot.services import BotConfig, Services
from bot.texts import Catalogue
from db.session import Database
from engine.factory import EngineSpec, build_engine
from jobs.config import QueueConfig, WorkerConfig
from jobs.notify import ResultMarkup
from jobs.queue import Queue, open_queue
from jobs.worker import Resources, build_resources, create_worker
from tests.jobs.squares import SquareEngine

# Generous limits: a test meets the rate limiter only when it asks for it.
EASY_LIMITS = Limits(burst=1000, per_minute=60_000, daily_cap=0)


def worker_config(db: Database, *, redis_url: str | None = None, **changes: Any) -> WorkerConfig:
    """Short timeouts and backoffs, a fresh queue name; ``changes``: the platform's config fields."""
    config = WorkerConfig(
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
            shutdown_grace_s=0.0,  # a test's close interrupts what it left running (one test asks for more)
        ),
        engine=EngineSpec(),
    )
    return replace(config, **changes)


def engine_for(request: pytest.FixtureRequest, default: str) -> Any:
    """The engine a test's ``@pytest.mark.engine(name)`` asks for (squares: the instant one)."""
    marker = request.node.get_closest_marker("engine")
    name = marker.args[0] if marker else default
    return SquareEngine() if name == "squares" else build_engine(EngineSpec(name=name))


@dataclass
class Jobs:
    """A harness's queue and services; with ARQ, the worker's resources (``drain`` runs it)."""

    queue: Queue
    services: Services
    config: WorkerConfig
    worker: Resources | None = None

    async def drain(self) -> None:
        """Until no job waits, runs or waits to be retried."""
        if self.worker is None:
            await self.queue.transport.wait_idle()  # type: ignore[attr-defined]
            return
        executor = self.worker.executor

        async def startup(ctx: dict[str, Any]) -> Any:
            return executor

        worker = create_worker(self.config.queue, startup=startup, burst=True, handle_signals=False)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    async def close(self) -> None:
        await self.queue.close()
        if self.worker is not None:
            await self.worker.close()
        await self.services.limiter.close()
        await self.services.once.close()


async def open_jobs(
    db: Database,
    engine: Any,
    config: WorkerConfig,
    *,
    bot_config: BotConfig,
    markups: Mapping[str, ResultMarkup],
    texts: Catalogue,
    telegram_bot: Bot | None = None,
    limiter: Any = None,
    once: Any = None,
) -> Jobs:
    """The queue (jobs in this process, or on ARQ when ``config`` names Redis) and the bot's services,
    wired as swapbot wires them: the worker's notifiers put ``markups`` (the pickers) on previews."""

    def factory(spec: EngineSpec) -> Any:  # the engine the test chose, whatever the spec
        return engine

    queue = await open_queue(
        config, db=db, telegram_bot=telegram_bot, texts=texts, engine_factory=factory, markups=markups
    )
    services = Services(
        db=db,
        jobs=queue.client,
        texts=texts,
        config=bot_config,
        limiter=limiter or MemoryRateLimiter(EASY_LIMITS),
        once=once or MemoryOnce(),
    )
    jobs = Jobs(queue, services, config)
    if config.queue.redis_url:
        jobs.worker = await build_resources(
            config,
            queue.transport,
            engine_factory=factory,
            texts=texts,
            crons=False,
            db=db,
            telegram_bot=telegram_bot,
            markups=markups,
        )
    return jobs
