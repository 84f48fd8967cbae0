"""Metrics: a real worker process serves /metrics on its port and counts the job it ran (kind and
outcome, queue wait, engine stages, the delivery and its retry, the platform's error); the real classic
engine through the in-process runner fills every swap stage, and `swapbot web` serves the same
registry at /metrics; payments are counted once however often Stripe reports them."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.flows import stripe_events
from bot.flows.checkout import PAYLOAD_KEY
from bot.flows.payments import sign_payload
from bot.texts import Catalogue
from db.base import utcnow
from db.jobs import Delivery, get
from db.session import Database
from engine.factory import EngineSpec, build_engine
from jobs.config import DiscordConfig, WorkerConfig
from jobs.errors import DeliveryError
from jobs.metrics import REGISTRY
from jobs.notify import Target
from jobs.notify.discord import DiscordNotifier
from jobs.platforms.discord import set_api_base
from jobs.queue import open_queue
from jobs.request import InputRef, JobRequest
from jobs.results import encode_result
from swapbot.web import web_app
from tests.conftest import encode
from tests.db.conftest import make_user
from tests.fakes import rate_limited, server_error
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram, retry_after
from tests.jobs.conftest import RED, close_harness, open_harness, queue_config, until
from tests.jobs.squares import picture
from tests.ops.procs import Samples, free_port, parse, scrape, spawn_worker, value

# isort: split
from tests.jobs.conftest import pg, sqlite, telegram  # noqa: F401  (the jobs tests' fixtures)

STAGES = ("decode", "detect", "embed", "swap", "encode")


def _stage_count(samples: Samples, stage: str) -> float:
    return value(samples, "swapbot_engine_stage_seconds_count", stage=stage)


async def test_a_worker_serves_metrics_counting_its_jobs(
    pg: Database,  # noqa: F811
    telegram: FakeTelegram,  # noqa: F811
    tmp_path: Path,
) -> None:
    harness = await open_harness("arq", pg, telegram)
    log = tmp_path / "worker.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    worker = spawn_worker(harness, delay_s=0.0, log=log, metrics_port=port)
    try:

        async def serving() -> bool:
            assert worker.poll() is None, log.read_text()
            try:
                await asyncio.to_thread(scrape, url)
            except OSError:
                return False
            return True

        await until(serving, 60, "the worker's /metrics")
        _, before = await asyncio.to_thread(scrape, url)
        assert value(before, "swapbot_jobs_total", kind="swap", outcome="done") == 0

        telegram.script("sendPhoto").push(retry_after(1))  # the first delivery is told to wait
        user = await harness.user(balance=5)
        ticket = await harness.client.submit(await harness.request(user, cost=1))

        async def delivered() -> bool:
            job = await harness.job(ticket.job_id)
            return job.status == "succeeded" and job.delivered_at is not None

        await until(delivered, 60, f"the job to be delivered\n{log.read_text()}")

        async def counted() -> bool:
            _, now = await asyncio.to_thread(scrape, url)
            return value(now, "swapbot_jobs_total", kind="swap", outcome="done") == 1

        await until(counted, 30, "the job to be counted")
        content_type, after = await asyncio.to_thread(scrape, url)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        await close_harness(harness)

    assert content_type.startswith("text/plain")
    assert value(after, "swapbot_jobs_total", kind="swap", outcome="done") == 1
    assert value(after, "swapbot_jobs_total", kind="swap", outcome="failed") == 0
    assert value(after, "swapbot_queue_wait_seconds_count") == 1
    assert value(after, "swapbot_deliveries_total", platform="telegram", outcome="delivered") == 1
    assert value(after, "swapbot_delivery_retries_total", platform="telegram") == 1
    assert value(after, "swapbot_platform_api_errors_total", platform="telegram", code="429") == 1
    # The square engine's source and target: two decodes and detections, one embedding and swap.
    assert [_stage_count(after, stage) for stage in STAGES] == [2, 2, 1, 1, 1]
    assert value(after, "swapbot_worker_info", engine="classic", providers="") == 1
    assert ("swapbot_queue_depth", frozenset()) in after
    # No user (or chat, or job) id is a label value: one series per user would grow without bound.
    ids = {str(user), str(harness.chat), ticket.job_id}
    assert not [labels for _, labels in after if ids & {v for _, v in labels}]
    assert worker.returncode == 0, log.read_text()


async def test_the_classic_engine_fills_every_stage_and_web_serves_it(
    sqlite: Database,  # noqa: F811
    astronaut: np.ndarray,
    hanks: np.ndarray,
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "astronaut.png", tmp_path / "hanks.png"
    source.write_bytes(encode(astronaut))
    target.write_bytes(encode(hanks))
    out = tmp_path / "out"
    out.mkdir()
    before = parse(_registry_text())
    config = WorkerConfig(
        sqlite.url.render_as_string(), queue=queue_config(redis_url=None), engine=EngineSpec()
    )
    queue = await open_queue(config, db=sqlite, engine_factory=build_engine, texts=Catalogue())
    try:
        user = await make_user(sqlite, balance=2)
        ticket = await queue.client.submit(
            JobRequest(
                user,
                "swap",
                InputRef.local(target),
                InputRef.local(source),
                delivery=Delivery("local", str(out)),
            )
        )

        async def finished() -> bool:
            async with sqlite.session() as session:
                return (await get(session, ticket.job_id)).status in ("succeeded", "failed")

        await until(finished, 180, "the swap")
        async with sqlite.session() as session:
            assert (await get(session, ticket.job_id)).status == "succeeded"
    finally:
        await queue.close()

    async with TestClient(TestServer(web_app(sqlite))) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        served = parse(await response.text())

    def delta(name: str, **labels: str) -> float:
        return value(served, name, **labels) - value(before, name, **labels)

    assert delta("swapbot_jobs_total", kind="swap", outcome="done") == 1
    assert delta("swapbot_deliveries_total", platform="local", outcome="delivered") == 1
    assert delta("swapbot_queue_wait_seconds_count") == 1
    counts = {stage: delta("swapbot_engine_stage_seconds_count", stage=stage) for stage in STAGES}
    assert counts == {"decode": 2, "detect": 2, "embed": 1, "swap": 1, "encode": 1}
    # Real work takes real time: the classic detector's seconds are recorded, not zeros.
    assert delta("swapbot_engine_stage_seconds_sum", stage="detect") > 0
    assert delta("swapbot_engine_stage_seconds_sum", stage="swap") > 0


async def test_a_payment_is_counted_once_however_often_stripe_reports_it(
    pg: Database,  # noqa: F811
) -> None:
    secret = b"metrics-test-secret-key-0123456789abcdef"
    user = await make_user(pg, balance=0)
    session = {
        "id": f"cs_test_{time.time_ns()}",
        "object": "checkout.session",
        "payment_status": "paid",
        "client_reference_id": str(user),
        "amount_total": 499,
        "currency": "usd",
        "payment_intent": f"pi_{time.time_ns()}",
        "metadata": {PAYLOAD_KEY: sign_payload(secret, 25, user)},
    }

    def event(event_id: str, kind: str) -> dict[str, object]:
        return {"id": event_id, "type": kind, "data": {"object": session}}

    before = parse(_registry_text())
    # The same event five times at once, and the other event Stripe sends for the same payment.
    events = [event("evt_one", stripe_events.COMPLETED)] * 5 + [
        event("evt_two", stripe_events.ASYNC_SUCCEEDED)
    ]
    handled = await asyncio.gather(*(stripe_events.handle(pg, secret, e) for e in events))
    after = parse(_registry_text())

    outcomes = sorted(h.outcome for h in handled)
    assert outcomes.count(stripe_events.Outcome.CREDITED) == 1
    assert (
        value(after, "swapbot_payments_total", provider="stripe")
        - value(before, "swapbot_payments_total", provider="stripe")
        == 1
    )
    assert (
        value(after, "swapbot_credits_sold_total", provider="stripe")
        - value(before, "swapbot_credits_sold_total", provider="stripe")
        == 25
    )


def _registry_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


async def test_a_taken_metrics_port_costs_the_worker_its_metrics_not_its_jobs(
    pg: Database,  # noqa: F811
    telegram: FakeTelegram,  # noqa: F811
    tmp_path: Path,
) -> None:
    harness = await open_harness("arq", pg, telegram)
    log = tmp_path / "worker.log"
    with socket.socket() as taken:  # another worker on this host already serves this port
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        worker = spawn_worker(harness, delay_s=0.0, log=log, metrics_port=taken.getsockname()[1])
        try:
            user = await harness.user(balance=5)
            ticket = await harness.client.submit(await harness.request(user, cost=1))

            async def delivered() -> bool:
                assert worker.poll() is None, log.read_text()
                job = await harness.job(ticket.job_id)
                return job.status == "succeeded" and job.delivered_at is not None

            await until(delivered, 60, f"the job to be delivered\n{log.read_text()}")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
            await close_harness(harness)
    assert worker.returncode == 0, log.read_text()
    assert "metrics not served" in log.read_text()


async def test_discord_api_errors_are_counted_by_status() -> None:
    """A rate limit and a server error from Discord's REST API, through the real notifier."""
    with FakeDiscord() as fake:
        set_api_base(fake.api_url)  # what a process built with Discord settings does at start-up
        notifier = DiscordNotifier(DiscordConfig(fake.token, fake.api_url))
        token, original = fake.interaction()
        expired = utcnow() - timedelta(minutes=1)  # past the interaction token: posts to the channel
        target = Target("j", Delivery("discord", "5550001", str(original), token, expired), "31337")
        result = encode_result(picture((RED, 20, 20)))
        before = parse(_registry_text())
        fake.script("channel").push(rate_limited("1"), server_error(503, "upstream down"))
        try:
            for _ in range(2):
                with pytest.raises(DeliveryError):
                    await notifier.deliver(target, result, "")
            await notifier.deliver(target, result, "")  # the third goes through: nothing counted
        finally:
            await notifier.close()
        after = parse(_registry_text())

    def delta(code: str) -> float:
        labels = {"platform": "discord", "code": code}
        name = "swapbot_platform_api_errors_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert (delta("429"), delta("503")) == (1, 1)
    assert len(fake.posted_to("5550001")) == 1
