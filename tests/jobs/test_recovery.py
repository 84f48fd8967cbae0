"""Nothing is lost: a worker killed mid-job, a Redis that forgot everything, an enqueue that failed,
a worker whose lease ran out. The database is the source of truth and the sweeper repairs the rest."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from arq.connections import ArqRedis

from bot.texts import Catalogue
from db import jobs as db_jobs
from db.base import utcnow
from db.session import Database
from jobs.arq_transport import ArqTransport
from jobs.client import JobClient
from jobs.local import LocalRunner
from jobs.notify.teller import Teller
from jobs.sweeper import Sweeper
from jobs.worker import check_health
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import REDIS_URL, Harness, close_harness, open_harness, until
from tests.jobs.squares import SquareEngine

ROOT = Path(__file__).resolve().parents[2]


def _spawn_worker(harness: Harness, delay_s: float, log: Path) -> subprocess.Popen[bytes]:
    spec = {
        "database_url": harness.db.url.render_as_string(hide_password=False),
        "queue": {k: v for k, v in dataclasses.asdict(harness.config).items() if k != "spool_dir"},
        "telegram_url": harness.telegram.url,
        "token": harness.telegram.token,
        "delay_s": delay_s,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.jobs.worker_process", json.dumps(spec)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


async def test_a_worker_killed_mid_job_is_replaced_after_the_timeout(
    pg: Database, telegram: FakeTelegram, tmp_path: Path
) -> None:
    harness = await open_harness(
        "arq", pg, telegram, job_timeout_s=2.0, lease_grace_s=1.0, sweep_interval_s=0.3
    )
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        user = await harness.user(balance=5)
        ticket = await harness.client.submit(await harness.request(user, cost=2))
        doomed = _spawn_worker(harness, delay_s=120.0, log=log)  # this one never finishes the engine call
        workers.append(doomed)

        async def running_on_doomed() -> bool:
            job = await harness.job(ticket.job_id)
            return job.status == "running" and f":{doomed.pid}:" in (job.worker_id or "")

        await until(running_on_doomed, 60, f"the job to run on worker {doomed.pid}\n{log.read_text()}")
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(10) == -signal.SIGKILL
        workers.append(_spawn_worker(harness, delay_s=0.0, log=log))

        async def delivered() -> bool:
            job = await harness.job(ticket.job_id)
            return job.status == "succeeded" and job.delivered_at is not None

        await until(delivered, 60, f"the job to be redone and delivered\n{log.read_text()}")
        job = await harness.job(ticket.job_id)
        assert job.attempts == 2
        assert f":{workers[1].pid}:" in (job.worker_id or "")
        assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
        assert await harness.balance(user) == 3
        assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}"]
        assert await check_health(harness.config)  # the live worker reports in
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        await close_harness(harness)
    assert workers[1].returncode == 0, log.read_text()  # SIGTERM is an orderly stop
    assert not await check_health(harness.config)  # ...which takes its health key away


async def test_jobs_survive_the_queue_forgetting_everything(harness: Harness) -> None:
    user = await harness.user(balance=30)
    tickets = [
        await harness.client.submit(await harness.request(user, status_message=False)) for _ in range(20)
    ]
    assert [t.position for t in tickets] == list(range(1, 21))
    assert (await harness.sweeper.sweep()).enqueued == []  # all still there: nothing enqueued twice

    if harness.kind == "arq":  # Redis loses everything (FLUSHDB on our own Redis database)
        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
    else:  # the process restarts: a new runner knows nothing
        await harness.transport.close()
        harness.runner = LocalRunner(concurrency=harness.config.concurrency)
        harness.transport = harness.runner
        harness.sweeper = Sweeper(harness.db, harness.runner, harness.config, teller=harness.teller)
    assert await harness.transport.position(tickets[0].job_id) is None

    report = await harness.sweeper.sweep()
    assert sorted(report.enqueued) == sorted(t.job_id for t in tickets)
    await harness.drain()

    for ticket in tickets:
        job = await harness.job(ticket.job_id)
        assert (job.status, job.attempts) == ("succeeded", 1)
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 20
    assert await harness.balance(user) == 10


async def test_a_failed_enqueue_leaves_the_job_queued_for_the_sweeper(
    pg: Database, telegram: FakeTelegram
) -> None:
    """ARQ only: the in-process runner's enqueue is a list append, it cannot fail."""
    harness = await open_harness("arq", pg, telegram)
    with socket.socket() as probe:  # a port nobody listens on: Redis is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = ArqTransport(
        ArqRedis(host="127.0.0.1", port=port, socket_connect_timeout=0.5), harness.config.queue_name
    )
    try:
        client = JobClient(harness.db, down, teller=Teller(harness.db, {}, Catalogue()))
        user = await harness.user(balance=3)
        ticket = await client.submit(await harness.request(user))
        assert (ticket.created, ticket.position, ticket.status) == (True, None, "queued")
        assert await harness.balance(user) == 2  # paid: the job exists in the database
        assert await harness.transport.position(ticket.job_id) is None  # but Redis never heard of it

        report = await harness.sweeper.sweep()
        assert report.enqueued == [ticket.job_id]
        await harness.drain()

        assert (await harness.job(ticket.job_id)).status == "succeeded"
        assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    finally:
        await down.close()
        await close_harness(harness)


async def test_a_running_job_whose_lease_ran_out_is_queued_again_and_done(harness: Harness) -> None:
    user = await harness.user(balance=3)
    ticket = await harness.client.submit(await harness.request(user))
    async with harness.db.transaction() as session:  # a worker took it and died a minute ago
        await db_jobs.start(
            session,
            ticket.job_id,
            worker_id="dead",
            lease=timedelta(seconds=5),
            now=utcnow() - timedelta(minutes=1),
        )

    report = await harness.sweeper.sweep()
    assert report.requeued == [ticket.job_id]
    await harness.drain()

    job = await harness.job(ticket.job_id)
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
    assert await harness.balance(user) == 2


async def test_a_dead_workers_job_out_of_tries_fails_refunds_and_says_so(harness: Harness) -> None:
    sweeper = Sweeper(
        harness.db,
        harness.transport,
        dataclasses.replace(harness.config, max_tries=1),
        teller=harness.teller,
    )
    user = await harness.user(balance=3)
    request = await harness.request(user)
    ticket = await harness.client.submit(request)
    await harness.transport.remove(ticket.job_id)
    async with harness.db.transaction() as session:
        await db_jobs.start(
            session,
            ticket.job_id,
            worker_id="dead",
            lease=timedelta(seconds=5),
            now=utcnow() - timedelta(minutes=1),
        )

    report = await sweeper.sweep()

    assert (report.failed, report.requeued) == ([ticket.job_id], [])
    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code) == ("failed", "worker_lost")
    assert job.delivered_at is not None
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert "refunded" in (harness.telegram.text_of(harness.chat, request.delivery.message) or "")
    assert (await sweeper.sweep()).failed == []  # once


async def test_a_job_waiting_past_the_limit_is_cancelled_refunded_once_and_the_chat_told(
    harness: Harness,
) -> None:
    user = await harness.user(balance=3)
    request = await harness.request(user, cost=2)
    ticket = await harness.client.submit(request)
    max_age = timedelta(seconds=harness.config.queued_max_age_s)
    assert (await harness.sweeper.sweep(utcnow() + max_age - timedelta(minutes=1))).expired == []

    later = utcnow() + max_age + timedelta(minutes=1)
    other = Sweeper(harness.db, harness.transport, harness.config, teller=harness.teller)
    reports = await asyncio.gather(harness.sweeper.sweep(later), other.sweep(later))

    assert sorted(reports[0].expired + reports[1].expired) == [ticket.job_id]
    job = await harness.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == ("cancelled", "expired", 0)
    assert job.delivered_at is not None
    assert await harness.balance(user) == 3
    assert await harness.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert await harness.transport.position(ticket.job_id) is None  # off the transport
    told = harness.telegram.text_of(harness.chat, request.delivery.message) or ""
    assert "waited too long" in told and "refunded" in told
    assert harness.telegram.edits_of(harness.chat, request.delivery.message).count(told) == 1
    await harness.drain()
    assert harness.engine.swaps == 0
    assert (await harness.sweeper.sweep(later)).expired == []


@pytest.mark.parametrize("grace_s", [30.0, 0.0])
async def test_closing_the_embedded_runner_first_finishes_the_jobs_already_asked_for(
    sqlite: Database, telegram: FakeTelegram, grace_s: float
) -> None:
    """In embedded mode no other worker would run what is left: on close the running job and the two
    waiting behind it are done and delivered within the grace; with none they stay queued, paid, for
    the next start (nothing delivered, nothing lost)."""
    harness = await open_harness(
        "local", sqlite, telegram, engine=SquareEngine(delay_s=0.3), concurrency=1, shutdown_grace_s=grace_s
    )
    try:
        user = await harness.user(balance=10)
        tickets = [
            await harness.client.submit(await harness.request(user, status_message=False)) for _ in range(3)
        ]
        assert harness.runner is not None
        harness.runner.start(harness.executor)
        assert await asyncio.to_thread(harness.engine.entered.wait, 10)  # the first one is in the engine
        await harness.transport.close()
        statuses = [(await harness.job(t.job_id)).status for t in tickets]
        delivered = len(harness.telegram.sent_to(harness.chat, "photo"))
        assert await harness.balance(user) == 7  # three paid either way; none refunded, none twice
    finally:
        await close_harness(harness)
    if grace_s:
        assert statuses == ["succeeded"] * 3 and delivered == 3
    else:
        assert statuses == ["queued"] * 3 and delivered == 0
