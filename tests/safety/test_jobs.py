"""The guard in the job machinery: a refused input fails the job for good with ``content_blocked``,
refunds it once, tells the chat why and keeps nothing; a worker without the model file runs unguarded
and says so at start-up. Real queues (ARQ on Redis with Postgres, the in-process runner with SQLite),
aiogram talking to the fake Telegram, the instant square engine for the swap itself.

Which inputs, and why: the refused input is a synthetic drawing (tests/safety/drawing.py) that the real
model flags at the default threshold (0.5); no threshold is lowered, so these tests also prove that
the default refuses what it should and lets real photos through. The refused result is the same
drawing with its dots covered by the square engine's green "faces" (it passes, 0.24); the swap paints
them in the source's colour and the result scores 0.66: the result check, not the input check, stops
it."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from bot.texts import Catalogue
from db.models import JobKind
from db.session import Database
from engine.factory import EngineBundle, EngineSpec
from engine.safety.guard import ContentBlocked
from engine.safety.settings import GuardSpec
from jobs.arq_transport import ArqTransport, connect
from jobs.client import JobClient
from jobs.config import QueueConfig, TelegramConfig, WorkerConfig
from jobs.execute import Executor
from jobs.fetch import InputFetcher
from jobs.local import LocalRunner
from jobs.metrics import REGISTRY
from jobs.notify.telegram import TelegramNotifier
from jobs.notify.teller import Teller
from jobs.operations import Operations, Work
from jobs.platforms.telegram import telegram_bot
from jobs.sweeper import Sweeper
from jobs.transport import Transport
from jobs.worker import build_resources
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import RED, Harness, close_harness, queue_config
from tests.jobs.squares import SquareEngine, picture, png
from tests.safety.drawing import body_drawing

BLOCKED_EN = "explicit nudity is not allowed here"


def unique(image: np.ndarray) -> bytes:
    """PNG bytes made unique by one grey corner pixel: job ids derive from the inputs and the user, user
    ids restart in each fresh database, and an ARQ job key left in the shared Redis by an earlier,
    interrupted run would make ARQ refuse the same id again."""
    image = image.copy()
    image[-1, -1] = random.randint(0, 255)
    return png(image)


def with_face(image: np.ndarray) -> np.ndarray:
    """A red square in the corner: the square engine's face, so the swap has somewhere to go."""
    image = image.copy()
    image[10:40, 10:40] = RED
    return image


# A Redis database of our own (tests/jobs flushes 11 when its sessions start and end, which would drop
# a job queued here while another suite runs).
REDIS_URL = "redis://localhost:6379/15"


async def open_guarded(kind: str, db: Database, telegram: FakeTelegram, models: Path) -> Harness:
    """tests/jobs' harness (ARQ on Redis, or the in-process runner), its worker's models folder holding
    the guard's model (default policy and threshold)."""
    queue = queue_config(redis_url=REDIS_URL if kind == "arq" else None)
    engine = SquareEngine()
    bot = telegram_bot(TelegramConfig(telegram.token, telegram.url))
    teller = Teller(db, {"telegram": TelegramNotifier(bot)}, Catalogue())
    operations = Operations(EngineBundle(EngineSpec(models_dir=models), engine))
    executor = Executor(db, operations, InputFetcher(telegram=bot), teller, queue, worker_id="guard-test")
    runner: LocalRunner | None = None
    transport: Transport
    if kind == "arq":
        transport = ArqTransport(await connect(REDIS_URL), queue.queue_name)
    else:
        runner = LocalRunner(concurrency=queue.concurrency)
        transport = runner
    client = JobClient(db, transport, teller=teller)
    sweeper = Sweeper(db, transport, queue, teller=teller)
    return Harness(
        kind, db, queue, engine, telegram, bot, teller, executor, transport, client, sweeper, runner
    )


@pytest.fixture(params=["arq", "local"])
async def guarded(
    request: pytest.FixtureRequest, telegram: FakeTelegram, pg: Database, sqlite: Database, guard_models: Path
) -> AsyncIterator[Harness]:
    harness = await open_guarded(
        request.param, pg if request.param == "arq" else sqlite, telegram, guard_models
    )
    try:
        yield harness
    finally:
        await close_harness(harness)


@pytest.mark.parametrize("role", ["target", "source"])
async def test_a_refused_input_is_refunded_once_and_the_chat_is_told(guarded: Harness, role: str) -> None:
    user = await guarded.user(balance=3)
    drawing = unique(with_face(body_drawing()))
    request = await guarded.request(user, **{role: drawing})
    blocked_before = _blocked("input")
    ticket = await guarded.client.submit(request)
    assert await guarded.balance(user) == 2

    await guarded.drain()
    assert _blocked("input") == blocked_before + 1  # counted for the dashboard

    job = await guarded.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "content_blocked", 1)  # not retried
    assert job.result_ref is None and guarded.engine.swaps == 0  # refused before the swap
    assert await guarded.balance(user) == 3
    assert await guarded.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    assert guarded.telegram.sent_to(guarded.chat, "photo") == []
    final = guarded.telegram.text_of(guarded.chat, request.delivery.message)
    assert final is not None and BLOCKED_EN in final and "refunded" in final
    # the same request again fails again: the guard is not a transient error
    again = await guarded.client.submit(request)
    await guarded.drain()
    assert (await guarded.job(again.job_id)).error_code == "content_blocked"
    assert await guarded.balance(user) == 3


def _blocked(stage: str) -> float:
    return REGISTRY.get_sample_value("swapbot_content_blocked_total", {"stage": stage}) or 0.0


def covered_drawing() -> np.ndarray:
    """The drawing without its dots, two green 24-pixel squares where they were: the square engine's
    two faces. The real model scores it 0.24 (it passes); painted over with the source's colour
    (``NIPPLE``) the same picture scores 0.66: only the result is refused."""
    image = body_drawing(nipples=False)
    for x in (215, 425):
        image[348:372, x - 12 : x + 12] = (0, 200, 0)
    return image


NIPPLE = (90, 100, 210)  # BGR; saturated enough to be the square engine's face in the source


async def test_a_refused_result_is_not_delivered_and_is_refunded(guarded: Harness) -> None:
    user = await guarded.user(balance=3)
    target, source = unique(covered_drawing()), unique(picture((NIPPLE, 50, 30)))
    request = await guarded.request(user, target=target, source=source)
    blocked_before = _blocked("result")
    ticket = await guarded.client.submit(request)

    await guarded.drain()
    assert _blocked("result") == blocked_before + 1

    job = await guarded.job(ticket.job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "content_blocked", 1)
    assert guarded.engine.swaps == 1  # the inputs passed; the swap ran
    assert job.error_text is not None and "refused the result" in job.error_text
    assert job.result_ref is None and guarded.telegram.sent_to(guarded.chat, "photo") == []
    assert await guarded.ledger_keys(ticket.job_id) == [f"job:{ticket.job_id}", f"refund:{ticket.job_id}"]
    final = guarded.telegram.text_of(guarded.chat, request.delivery.message)
    assert final is not None and BLOCKED_EN in final and "refunded" in final


async def test_ordinary_pictures_pass_the_guard(guarded: Harness) -> None:
    user = await guarded.user(balance=3)
    photos = {"target": unique(picture((RED, 20, 20))), "source": unique(picture(((255, 0, 0), 50, 30)))}
    ticket = await guarded.client.submit(await guarded.request(user, **photos))
    await guarded.drain()
    assert (await guarded.job(ticket.job_id)).status == "succeeded"
    assert len(guarded.telegram.sent_to(guarded.chat, "photo")) == 1
    assert await guarded.balance(user) == 2


def test_every_language_has_the_sentence() -> None:
    texts = Catalogue()
    english = texts.text("content_blocked", "en")
    assert BLOCKED_EN in english
    for language in ("ru", "ko", "vi"):
        sentence = texts.text("content_blocked", language)
        assert sentence and sentence != english, language


async def test_a_worker_without_the_model_runs_unguarded_and_says_so(
    sqlite: Database, tmp_path: Path
) -> None:
    config = WorkerConfig(
        database_url="sqlite+aiosqlite://",  # unused: the database is passed in
        queue=QueueConfig(redis_url=None),
        engine=EngineSpec(models_dir=tmp_path, guard=GuardSpec()),  # block, but no model file
    )
    with capture_logs() as logs:
        resources = await build_resources(
            config,
            None,
            engine_factory=lambda _: SquareEngine(),
            texts=Catalogue(),
            crons=False,
            db=sqlite,  # type: ignore[arg-type]
        )
    try:
        started = [entry for entry in logs if entry["event"] == "worker engine loaded"]
        assert len(started) == 1
        assert "off: model file missing" in started[0]["content_guard"]
        assert "swapbot models fetch nudenet" in started[0]["content_guard"]
        work = Work(
            kind=JobKind.SWAP,
            params={},
            target=png(with_face(body_drawing())),
            source=png(picture((RED, 50, 30))),
        )
        output = resources.executor.operations.run(work)  # not refused: the guard is off
        assert output.result.photo or output.result.document
    finally:
        await resources.close()


def test_the_same_work_is_refused_with_the_model(guard_models: Path) -> None:
    operations = Operations(EngineBundle(EngineSpec(models_dir=guard_models), SquareEngine()))
    work = Work(
        kind=JobKind.SWAP,
        params={},
        target=png(with_face(body_drawing())),
        source=png(picture((RED, 50, 30))),
    )
    with pytest.raises(ContentBlocked):
        operations.run(work)
    nsfw = EngineSpec(models_dir=guard_models, guard=GuardSpec(nsfw_channels="allow"))
    allowed = Operations(EngineBundle(nsfw, SquareEngine()))
    assert allowed.run(dataclasses.replace(work, params={"channel_nsfw": True})).result.width > 0
    with pytest.raises(ContentBlocked):  # the flag alone does nothing where the rule is block
        operations.run(dataclasses.replace(work, params={"channel_nsfw": True}))
