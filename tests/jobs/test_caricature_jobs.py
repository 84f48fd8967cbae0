"""Caricature jobs through the embedded queue with the real classic engine: the local warp, and the
remote styles through the real ``openai`` client against the fake service (refunded when they fail)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot.texts import Catalogue
from db import ledger
from db.jobs import Delivery, get
from db.models import Job
from db.session import Database
from engine.factory import EngineSpec, StylizerSpec, build_engine
from jobs.config import WorkerConfig
from jobs.queue import Queue, open_queue
from jobs.request import InputRef, JobRequest
from tests.conftest import encode
from tests.db.conftest import make_user
from tests.fakes import error
from tests.fakes.openai_server import FakeOpenAI
from tests.jobs.conftest import queue_config, until
from tests.jobs.squares import SquareEngine


@pytest.fixture(scope="module")
def classic():
    engine = build_engine(EngineSpec())
    return lambda config: engine


@asynccontextmanager
async def embedded_queue(
    sqlite: Database, classic: Callable, stylizers: StylizerSpec
) -> AsyncIterator[Queue]:
    config = WorkerConfig(
        sqlite.url.render_as_string(),
        queue=queue_config(redis_url=None),
        engine=EngineSpec(stylizers=stylizers),
    )
    queue = await open_queue(config, db=sqlite, engine_factory=classic, texts=Catalogue())
    try:
        yield queue
    finally:
        await queue.close()


async def caricature_job(
    queue: Queue, sqlite: Database, photo: Path, out: Path, params: dict
) -> tuple[Job, int, np.ndarray | None]:
    """Submit, wait for the end, and return the job, the user's balance and the delivered picture."""
    user = await make_user(sqlite, balance=3)
    ticket = await queue.client.submit(
        JobRequest(
            user, "caricature", InputRef.local(photo), params=params, delivery=Delivery("local", str(out))
        )
    )

    async def finished() -> bool:
        async with sqlite.session() as session:
            return (await get(session, ticket.job_id)).status in ("succeeded", "failed")

    await until(finished, 120, "the caricature")
    async with sqlite.session() as session:
        job = await get(session, ticket.job_id)
        balance = await ledger.balance(session, user)
    picture = None
    if job.result_ref:
        data = Path(job.result_ref.removeprefix("file:")).read_bytes()
        picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return job, balance, picture


@pytest.fixture
def photo(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "astronaut.png"
    path.write_bytes(encode(astronaut))
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


async def test_local_warp_caricature_is_charged_and_delivered(sqlite, classic, photo, out, astronaut):
    async with embedded_queue(sqlite, classic, StylizerSpec()) as queue:
        job, balance, picture = await caricature_job(queue, sqlite, photo, out, {"style": "warp"})
    assert (job.status, balance) == ("succeeded", 2)
    assert picture is not None and picture.shape == astronaut.shape
    diff = np.abs(picture.astype(np.int16) - astronaut.astype(np.int16)).mean(axis=2)
    assert diff[100:250, 150:300].mean() > 8.0  # the face moved
    assert diff[:60, :60].mean() < 3.0  # the corner did not (JPEG noise only)


async def test_an_engine_without_landmarks_leaves_caricatures_to_a_classic_landmarker(
    sqlite, photo, out, astronaut
):
    squares = SquareEngine()  # 5 key points and no landmarks, like the onnx engine
    async with embedded_queue(sqlite, lambda spec: squares, StylizerSpec()) as queue:
        job, balance, picture = await caricature_job(queue, sqlite, photo, out, {"style": "warp"})
    assert (job.status, balance) == ("succeeded", 2)
    diff = np.abs(picture.astype(np.int16) - astronaut.astype(np.int16)).mean(axis=2)
    assert diff[100:250, 150:300].mean() > 8.0  # the real face was found and warped
    assert squares.swaps == 0


async def test_openai_style_goes_through_the_real_client(sqlite, classic, photo, out, astronaut):
    with FakeOpenAI() as fake:
        remote = StylizerSpec(openai_api_key=fake.api_key, openai_base_url=fake.base_url, timeout=20)
        async with embedded_queue(sqlite, classic, remote) as queue:
            job, balance, picture = await caricature_job(queue, sqlite, photo, out, {"style": "openai"})
        assert len(fake.requests) == 1
    assert (job.status, balance) == ("succeeded", 2)
    # The fake draws the picture mirrored: what came back is the service's picture, not ours.
    assert np.abs(picture.astype(np.int16) - cv2.flip(astronaut, 1).astype(np.int16)).mean() < 3.0


async def test_a_remote_style_without_a_key_fails_and_refunds(sqlite, classic, photo, out):
    async with embedded_queue(sqlite, classic, StylizerSpec()) as queue:
        job, balance, picture = await caricature_job(queue, sqlite, photo, out, {"style": "replicate"})
    assert (job.status, job.error_code, balance, picture) == ("failed", "stylizer_unavailable", 3, None)
    assert "REPLICATE_API_TOKEN" in job.error_text


async def test_a_refused_remote_request_is_permanent_and_refunded(sqlite, classic, photo, out):
    with FakeOpenAI() as fake:
        fake.edits.push(error(400, "Your request was rejected by the safety system", "moderation_blocked"))
        remote = StylizerSpec(openai_api_key=fake.api_key, openai_base_url=fake.base_url, timeout=20)
        async with embedded_queue(sqlite, classic, remote) as queue:
            job, balance, _ = await caricature_job(queue, sqlite, photo, out, {"style": "openai"})
        assert len(fake.requests) == 1  # not retried: a 400 will not change its mind
    assert (job.status, job.error_code, balance) == ("failed", "stylizer_error", 3)
    assert "safety system" in job.error_text
