"""A running (not burst) ARQ worker sleeps between polls until a producer wakes it: a job submitted,
or a running job's abort, is taken up at once although the worker's idle poll is a minute away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from db.session import Database
from jobs.arq_worker import WakeableWorker
from jobs.client import Cancel
from jobs.execute import Executor
from jobs.worker import create_worker
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import Harness, close_harness, open_harness, until
from tests.jobs.squares import SquareEngine

IDLE_POLL_S = 60.0  # longer than every wait below: only a wake-up can start the jobs in time


@pytest.fixture
async def arq(telegram: FakeTelegram, pg: Database) -> AsyncIterator[Harness]:
    opened = await open_harness("arq", pg, telegram, engine=SquareEngine())
    try:
        yield opened
    finally:
        await close_harness(opened)


@asynccontextmanager
async def running_worker(harness: Harness) -> AsyncIterator[WakeableWorker]:
    async def startup(ctx: dict[str, Any]) -> Executor:
        return harness.executor

    worker = create_worker(harness.config, startup=startup, handle_signals=False)
    assert isinstance(worker, WakeableWorker)
    worker.idle_poll_s = IDLE_POLL_S
    task = asyncio.create_task(worker.async_run())
    try:
        await until(lambda: _asleep(worker), 10.0, "the worker's first (empty) poll")
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()


async def _asleep(worker: WakeableWorker) -> bool:
    return worker._listener is not None and worker.jobs_complete == 0 and not worker.tasks


async def test_a_submitted_job_wakes_the_idle_worker(arq: Harness) -> None:
    user = await arq.user(balance=5)
    async with running_worker(arq) as worker:
        await asyncio.sleep(0.5)  # past the first poll: the worker waits on its minute-long idle poll
        ticket = await arq.client.submit(await arq.request(user))

        async def done() -> bool:
            return (await arq.job(ticket.job_id)).status == "succeeded"

        await until(done, 20.0, "the job to run on the woken worker")
        assert worker.jobs_complete == 1
    assert len(arq.telegram.sent_to(arq.chat, "photo")) == 1
    assert await arq.balance(user) == 4


async def test_an_abort_wakes_the_worker_running_the_job(arq: Harness) -> None:
    arq.engine.gate = threading.Event()  # the swap waits here: the job runs until aborted
    user = await arq.user(balance=5)
    async with running_worker(arq) as worker:
        ticket = await arq.client.submit(await arq.request(user))
        try:
            assert await asyncio.to_thread(arq.engine.entered.wait, 20)
            await asyncio.sleep(0.5)  # the worker is back on its minute-long idle poll
            assert ticket.job_id in worker.job_tasks

            assert await arq.client.cancel(ticket.job_id) is Cancel.CANCELLED  # aborts: the job is running

            async def stopped() -> bool:
                return ticket.job_id not in worker.job_tasks  # ARQ cancelled the job's task

            await until(stopped, 20.0, "the abort to reach the running job")
            assert worker.jobs_failed == 1 and worker.jobs_complete == 0
        finally:
            arq.engine.gate.set()
    assert await arq.balance(user) == 5  # refunded
    assert arq.telegram.sent_to(arq.chat, "photo") == []
