"""The guard in the job machinery: a refused input fails the job for good with ``content_blocked``,
refunds it once, tells the chat why and keeps nothing; a worker without the model file runs unguarded
and says so at start-up. Real queues (ARQ on Redis with Postgres, the in-process runner with SQLite),
aiogram talking to the fake Telegram, the instant square engine for the swap itself.

The refused input is the synthetic drawing the real model flags at the default threshold (0.5): no
threshold is lowered, so these tests also prove the default setting refuses what it should."""

from __future__ import annotations

import dataclasses
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
from jobs.config import QueueConfig, WorkerConfig
from jobs.operations import Operations, Work
from jobs.worker import build_resources
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import RED, Harness, close_harness, open_harness
from tests.jobs.squares import SquareEngine, picture, png
from tests.safety.drawing import body_drawing

BLOCKED_EN = "explicit nudity is not allowed here"


def with_face(image: np.ndarray) -> np.ndarray:
    """A red square in the corner: the square engine's face, so the swap has somewhere to go."""
    image = image.copy()
    image[10:40, 10:40] = RED
    return image


@pytest.fixture(params=["arq", "local"])
async def guarded(
    request: pytest.FixtureRequest, telegram: FakeTelegram, pg: Database, sqlite: Database, guard_models: Path
) -> AsyncIterator[Harness]:
    db = pg if request.param == "arq" else sqlite
    harness = await open_harness(request.param, db, telegram)
    # the worker's operations with the guard's model in the models folder (default policy and threshold)
    harness.executor.operations = Operations(
        EngineBundle(EngineSpec(models_dir=guard_models), harness.engine)
    )
    try:
        yield harness
    finally:
        await close_harness(harness)


@pytest.mark.parametrize("role", ["target", "source"])
async def test_a_refused_input_is_refunded_once_and_the_chat_is_told(guarded: Harness, role: str) -> None:
    user = await guarded.user(balance=3)
    drawing = png(with_face(body_drawing()))
    request = await guarded.request(user, **{role: drawing})
    ticket = await guarded.client.submit(request)
    assert await guarded.balance(user) == 2

    await guarded.drain()

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


async def test_ordinary_pictures_pass_the_guard(guarded: Harness) -> None:
    user = await guarded.user(balance=3)
    ticket = await guarded.client.submit(await guarded.request(user))
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
