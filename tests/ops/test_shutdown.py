"""Graceful shutdown: SIGTERM to a real worker process with a job in flight lets the job finish and be
delivered once, takes no new job, and exits 0; a job longer than the grace goes back to the queue and
another worker delivers it; a polling Telegram bot stops on SIGTERM and exits 0."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from db.session import Database
from jobs.worker import check_health
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import Harness, close_harness, open_harness, until
from tests.ops.procs import bare_env, sigterm_when, spawn_worker

# isort: split
from tests.jobs.conftest import pg, telegram  # noqa: F401  (the jobs tests' fixtures)

STOPPING = "worker stopping"  # the worker's log line once SIGTERM has stopped it taking jobs


async def _running_on(harness: Harness, job_id: str, worker: subprocess.Popen[bytes]) -> bool:
    job = await harness.job(job_id)
    return job.status == "running" and f":{worker.pid}:" in (job.worker_id or "")


def _stop(worker: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout_s)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise


async def test_sigterm_lets_the_running_job_finish_and_takes_no_new_one(
    pg: Database,  # noqa: F811
    telegram: FakeTelegram,  # noqa: F811
    tmp_path: Path,
) -> None:
    harness = await open_harness("arq", pg, telegram)
    log = tmp_path / "worker.log"
    # Each engine call takes 3 s: SIGTERM comes while the job is inside it.
    worker = spawn_worker(harness, delay_s=3.0, log=log, shutdown_grace_s=60.0)
    try:
        user = await harness.user(balance=5)
        first = await harness.client.submit(await harness.request(user, cost=1))
        started = f"the job to start\n{log.read_text()}"
        await until(lambda: _running_on(harness, first.job_id, worker), 60, started)
        worker.send_signal(signal.SIGTERM)

        async def stopping() -> bool:
            assert worker.poll() is None or worker.returncode == 0, log.read_text()
            return STOPPING in log.read_text()

        await until(stopping, 30, "the worker to stop taking jobs")
        second = await harness.client.submit(await harness.request(user, cost=1))
        assert worker.wait(60) == 0, log.read_text()

        done = await harness.job(first.job_id)
        waiting = await harness.job(second.job_id)
        photos = harness.telegram.sent_to(harness.chat, "photo")
        still_alive = await check_health(harness.config)
    finally:
        _stop(worker)
        await close_harness(harness)

    assert (done.status, done.attempts) == ("succeeded", 1)
    assert done.delivered_at is not None
    assert len(photos) == 1  # delivered once, and only the first job's
    assert (waiting.status, waiting.attempts) == ("queued", 0)  # taken by no one after SIGTERM
    assert not still_alive  # the stopped worker took its health key with it
    assert f'"job_id": "{first.job_id}"' in log.read_text()  # its lines name the job


async def test_a_job_longer_than_the_grace_goes_back_and_is_delivered_by_another_worker(
    pg: Database,  # noqa: F811
    telegram: FakeTelegram,  # noqa: F811
    tmp_path: Path,
) -> None:
    harness = await open_harness("arq", pg, telegram, job_timeout_s=60.0)
    log = tmp_path / "workers.log"
    slow = spawn_worker(harness, delay_s=30.0, log=log, shutdown_grace_s=1.0)
    workers = [slow]
    try:
        user = await harness.user(balance=5)
        ticket = await harness.client.submit(await harness.request(user, cost=2))
        started = f"the job to start\n{log.read_text()}"
        await until(lambda: _running_on(harness, ticket.job_id, slow), 60, started)
        assert _stop(slow) == 0, log.read_text()
        cut_off = await harness.job(ticket.job_id)
        assert (cut_off.status, cut_off.attempts) == ("queued", 1)  # given back, not failed
        assert harness.telegram.sent_to(harness.chat, "photo") == []

        workers.append(spawn_worker(harness, delay_s=0.0, log=log))

        async def delivered() -> bool:
            job = await harness.job(ticket.job_id)
            return job.status == "succeeded" and job.delivered_at is not None

        await until(delivered, 60, f"the job to be redone and delivered\n{log.read_text()}")
        job = await harness.job(ticket.job_id)
        assert job.attempts == 2
        assert len(harness.telegram.sent_to(harness.chat, "photo")) == 1
        assert await harness.balance(user) == 3  # charged once
    finally:
        for worker in workers:
            _stop(worker)
        await close_harness(harness)


def test_a_polling_bot_exits_cleanly_on_sigterm(
    telegram: FakeTelegram,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = bare_env() | {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}
    # polling, long-poll after long-poll
    status, output = sigterm_when(
        env, tmp_path, lambda: len(telegram.called("getUpdates")) >= 2, "the bot to poll"
    )
    assert status == 0, output
    assert "Traceback" not in output


def test_a_discord_bot_closes_its_gateway_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    with FakeDiscord() as fake:
        env = bare_env() | fake.env() | {"DISCORD_BOT_TOKEN": fake.token, "DISCORD_API_URL": fake.api_url}
        # connected and logged in on the gateway
        status, output = sigterm_when(
            env, tmp_path, lambda: bool(fake.gateway.identifies), "the bot to identify"
        )
    assert status == 0, output
    assert "Traceback" not in output
