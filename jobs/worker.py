"""``swapbot worker``: ARQ workers on Redis running ``Executor.run``, with the crons beside them.

Models load once, at start-up; engine calls run in the executor's bounded thread pool, off the event
loop. ARQ's own retry count is set out of reach: tries are counted in the database (``attempts``),
which survives Redis.

ARQ polls its queue, a sorted set no blocking read can wait on, every ``poll_delay``: at the 5 ms a
quick start needs, an idle worker made 400 Redis round trips a second (18% of a core). Here producers
publish on the queue's wake channel (``wake_channel``; ArqTransport does after enqueueing or aborting)
and the worker polls when woken, when one of its jobs ends (a slot is free for a waiting job), right
after a poll that started jobs (more may wait), and every ``IDLE_POLL_S`` whatever happens (a deferred
retry comes due, a wake message is lost while Redis reconnects): ``jobs.arq_worker.WakeableWorker``,
the one adapter that touches ARQ's private parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiogram import Bot
from arq import Retry
from arq.connections import RedisSettings
from arq.worker import Worker, async_check_health, func

from db.session import Database
from engine.base import FaceEngine
from engine.factory import EngineBundle, EngineSpec, build_engine
from jobs.arq_transport import ArqTransport
from jobs.arq_worker import WakeableWorker
from jobs.config import QueueConfig, WorkerConfig
from jobs.execute import Executor
from jobs.fetch import InputFetcher
from jobs.metrics import QUEUE_DEPTH, WORKER, MetricsServer
from jobs.notify import Markups
from jobs.notify.clients import open_clients
from jobs.notify.teller import Teller
from jobs.operations import Operations
from jobs.sweeper import Crons, Sweeper
from jobs.texts import Texts
from jobs.transport import PROCESS_JOB, Transport

log = structlog.get_logger("jobs")

ARQ_MAX_TRIES = 1_000_000
DEPTH_EVERY_S = 5.0  # how often a worker samples the queue depth for its metrics


# The seam tests use to run their own engine; a worker builds the spec's engine.
EngineFactory = Callable[[EngineSpec], FaceEngine]
default_engine: EngineFactory = build_engine


@dataclass
class Resources:
    """What a worker process holds for its lifetime; ``close`` gives it all back."""

    db: Database
    executor: Executor
    transport: Transport
    sweeper: Sweeper
    teller: Teller
    crons: Crons | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        if self.crons is not None:
            await self.crons.stop()
        for close in reversed(self.closers):
            await close()
        self.executor.close()


async def build_resources(
    config: WorkerConfig,
    transport: Transport,
    *,
    engine_factory: EngineFactory = default_engine,
    texts: Texts,
    crons: bool = True,
    db: Database | None = None,
    telegram_bot: Bot | None = None,
    markups: Markups | None = None,
) -> Resources:
    """Database, engine (loaded now), platform clients, executor and sweeper from ``config``.

    A process that already has a database or an aiogram ``Bot`` (the bot itself, running jobs in
    process) passes them in; they are then left open on ``close``.
    """
    closers: list[Callable[[], Awaitable[None]]] = []
    if db is None:
        db = Database(config.database_url)
        closers.append(db.dispose)
    engine = await asyncio.to_thread(engine_factory, config.engine)
    clients = open_clients(config, telegram_bot=telegram_bot, markups=markups)
    closers.append(clients.close)
    teller = Teller(db, clients.notifiers, texts)
    queue = config.queue
    fetcher = InputFetcher(
        telegram=clients.telegram_bot, max_bytes=queue.max_input_bytes, url_policy=config.urls
    )
    closers.append(fetcher.close)
    bundle = EngineBundle(config.engine, engine)
    guard = await asyncio.to_thread(bundle.guard)  # loaded now: its state goes in the start-up line
    log.info("worker engine loaded", engine=config.engine.name, content_guard=guard.state)
    operations = Operations(bundle, max_faces=queue.max_faces)
    executor = Executor(db, operations, fetcher, teller, queue)
    sweeper = Sweeper(db, transport, queue, teller=teller)
    resources = Resources(
        db, executor, transport, sweeper, teller, Crons(sweeper, queue) if crons else None, closers
    )
    if resources.crons is not None:
        resources.crons.start()
    return resources


async def process_job(ctx: dict[str, Any], job_id: str) -> str:
    """The ARQ task: one attempt; a retry goes back to ARQ's queue with the backoff as its delay."""
    executor: Executor = ctx["executor"]
    outcome = await executor.run(job_id)
    if outcome.status == "retry":
        raise Retry(defer=outcome.retry_in)
    return outcome.status


def create_worker(
    queue: QueueConfig,
    *,
    startup: Callable[[dict[str, Any]], Awaitable[Executor]],
    shutdown: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An ARQ ``Worker`` for ``queue``; ``startup`` builds the executor (ctx has ARQ's ``redis``)."""
    if not queue.redis_url:
        raise ValueError("an ARQ worker needs REDIS_URL; without it the bot runs jobs in its own process")

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["executor"] = await startup(ctx)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if shutdown is not None:
            await shutdown(ctx)

    return WakeableWorker(
        functions=[
            func(process_job, name=PROCESS_JOB, timeout=queue.task_timeout_s, max_tries=ARQ_MAX_TRIES)
        ],
        queue_name=queue.queue_name,
        redis_settings=RedisSettings.from_dsn(queue.redis_url),
        burst=burst,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        handle_signals=handle_signals,
        # SIGTERM: no new job, running ones get this long to finish and be delivered (ARQ's own).
        job_completion_wait=max(1, round(queue.shutdown_grace_s)),
        max_jobs=queue.concurrency,
        job_timeout=queue.task_timeout_s,
        keep_result=0,  # results live in the database; a kept result would block re-enqueueing the id
        poll_delay=queue.poll_delay_s,
        max_tries=ARQ_MAX_TRIES,
        health_check_interval=queue.health_check_interval_s,
        allow_abort_jobs=True,
    )


async def serve(
    config: WorkerConfig,
    *,
    engine_factory: EngineFactory = default_engine,
    texts: Texts,
    burst: bool = False,
    crons: bool = True,
    markups: Markups | None = None,
) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM) or, with ``burst``, the queue is empty.

    On SIGTERM it takes no new job and lets running ones finish (``shutdown_grace_s``); with
    ``config.metrics_port`` it serves /metrics there meanwhile."""
    held: dict[str, Resources] = {}
    tasks: list[asyncio.Task[None]] = []
    spec = config.engine
    WORKER.info({"engine": spec.name, "providers": ",".join(spec.providers) if spec.name == "onnx" else ""})
    metrics = _metrics_server(config.metrics_port)

    async def startup(ctx: dict[str, Any]) -> Executor:
        transport = ArqTransport(ctx["redis"], config.queue.queue_name)
        held["resources"] = await build_resources(
            config,
            transport,
            engine_factory=engine_factory,
            texts=texts,
            crons=crons,
            markups=markups,
        )
        tasks.append(asyncio.create_task(_sample_depth(transport), name="queue-depth"))
        return held["resources"].executor

    async def shutdown(ctx: dict[str, Any]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if "resources" in held:
            await held["resources"].close()

    worker = create_worker(config.queue, startup=startup, shutdown=shutdown, burst=burst)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        if worker.main_task is None or not worker.main_task.cancelled():
            raise  # we were cancelled, not stopped by a signal
    finally:
        await worker.close()
        if metrics is not None:
            metrics.close()


def _metrics_server(port: int) -> MetricsServer | None:
    """/metrics on ``port`` (0: none). A port already taken (two workers on one host with the same
    setting) costs this worker its metrics, not its jobs: said loudly, and it runs on."""
    if not port:
        return None
    try:
        return MetricsServer(port)
    except OSError as exc:
        log.error("metrics not served: set SWAPBOT_METRICS_PORT per worker", port=port, error=str(exc))
        return None


async def _sample_depth(transport: ArqTransport) -> None:
    """Keep the queue-depth gauge current (every worker reports it; the dashboard takes the max)."""
    while True:
        try:
            QUEUE_DEPTH.set(await transport.depth())
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis is away for a moment: the next sample will tell
            pass
        await asyncio.sleep(DEPTH_EVERY_S)


def run_worker(
    config: WorkerConfig,
    *,
    texts: Texts,
    engine_factory: EngineFactory = default_engine,
    markups: Markups | None = None,
) -> None:
    """Blocking entry point for ``swapbot worker``; ``markups``: the face picker's buttons."""
    asyncio.run(serve(config, engine_factory=engine_factory, texts=texts, markups=markups))


async def check_health(queue: QueueConfig) -> bool:
    """True when some worker on ``queue`` wrote its health key within the health-check interval."""
    if not queue.redis_url:
        raise ValueError("no REDIS_URL: there are no separate workers to check")
    code = await async_check_health(RedisSettings.from_dsn(queue.redis_url), None, queue.queue_name)
    return code == 0
