"""Analysis jobs on the real classic engine and real photos, through ARQ (Postgres) and the in-process
runner (SQLite): the faces of t1.jpg in reading order, a numbered preview with its face count, the
chips and embeddings kept with the job, free of charge; saving a face from it, and every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from bot.texts import Catalogue
from db import analyses
from db import faces as db_faces
from db.base import utcnow
from db.errors import AnalysisExpired, AnalysisNotFinished, NoSuchFace, NotYourAnalysis
from db.jobs import Delivery
from db.models import AnalysedFace, AnalysedFaceEmbedding, SavedFace
from db.session import Database
from engine.classic.backend import EMBEDDING_MODEL, ClassicEngine
from engine.face import IDENTITY_CHIP_SIZE
from engine.imageio import decode_image
from jobs.request import InputRef, JobRequest, SavedFaceRef
from tests.conftest import encode
from tests.fakes.telegram_server import FakeTelegram
from tests.jobs.conftest import Harness, close_harness, open_harness
from tests.jobs.squares import picture

BOX_COLOUR = np.array([0, 220, 255])  # engine.face.preview's, BGR


@pytest.fixture(scope="module")
def classic() -> ClassicEngine:
    return ClassicEngine()


@pytest.fixture(params=["arq", "local"])
async def real(
    request: pytest.FixtureRequest,
    telegram: FakeTelegram,
    pg: Database,
    sqlite: Database,
    classic: ClassicEngine,
) -> AsyncIterator[Harness]:
    """The harness with the real classic engine: ARQ on Postgres, then the in-process runner on SQLite."""
    db = pg if request.param == "arq" else sqlite
    opened = await open_harness(request.param, db, telegram, engine=classic)
    try:
        yield opened
    finally:
        await close_harness(opened)


def analysis_of(harness: Harness, user_id: int, photo: np.ndarray) -> JobRequest:
    file_id, unique = harness.telegram.add_file(encode(photo))
    return JobRequest.analysis(
        user_id, InputRef.telegram(file_id, unique), Delivery("telegram", str(harness.chat))
    )


async def analysed(harness: Harness, photo: np.ndarray) -> tuple[int, str]:
    """A new user whose analysis of ``photo`` has run: (user id, job id)."""
    user_id = await harness.user(balance=2)
    ticket = await harness.client.submit(analysis_of(harness, user_id, photo))
    await harness.drain()
    return user_id, ticket.job_id


async def stored_faces(db: Database, job_id: str) -> list[AnalysedFace]:
    async with db.session() as session:
        rows = await session.scalars(
            select(AnalysedFace).where(AnalysedFace.job_id == job_id).order_by(AnalysedFace.number)
        )
        return list(rows)


async def test_the_group_photo_gives_six_faces_a_numbered_preview_and_costs_nothing(
    real: Harness, group_photo: np.ndarray, classic: ClassicEngine
) -> None:
    user_id = await real.user(balance=2)
    request = analysis_of(real, user_id, group_photo)
    ticket = await real.client.submit(request)
    again = await real.client.submit(request)  # a double tap: the same job, nothing charged
    assert (again.job_id, again.created) == (ticket.job_id, False)
    await real.drain()

    job = await real.job(ticket.job_id)
    assert (job.kind, job.status, job.cost) == ("analyze", "succeeded", 0)
    assert await real.ledger_keys(job.id) == []
    assert await real.balance(user_id) == 2

    (sent,) = real.telegram.sent_to(real.chat, "photo")
    assert sent.caption == Catalogue().text("faces_found", None, count=6)
    assert job.result_ref == f"photo:{sent.file_id}#{sent.message_id}"
    assert job.result_message == str(sent.message_id)
    assert sent.data is not None
    preview = decode_image(sent.data)
    assert preview.shape == group_photo.shape

    expected = classic.detect(group_photo, embed=False)
    faces = await stored_faces(real.db, job.id)
    assert [f.number for f in faces] == [1, 2, 3, 4, 5, 6]
    for face, detected in zip(faces, expected, strict=True):
        np.testing.assert_allclose(face.box, detected.box, atol=1.0)  # reading order, the detector's boxes
        x1, y1, x2, _ = (round(v) for v in face.box)
        edge = preview[y1, x1 + 5 : x2 - 5].astype(float).mean(axis=0)
        assert np.abs(edge - BOX_COLOUR).max() < 40, edge  # each face is boxed on the preview
        chip = decode_image(face.chip)
        assert chip.shape == (IDENTITY_CHIP_SIZE, IDENTITY_CHIP_SIZE, 3)
        assert len(face.landmarks) == 68
        assert [(e.model, e.dim) for e in face.embeddings] == [(EMBEDDING_MODEL, 128)]
    assert job.params == {} and job.inputs is not None  # the photo itself is never kept, only its reference


async def test_a_saved_face_matches_its_person_and_swaps(
    real: Harness, group_photo: np.ndarray, astronaut: np.ndarray, classic: ClassicEngine
) -> None:
    user_id, job_id = await analysed(real, group_photo)

    saved = await save_from(real.db, user_id=user_id, job_id=job_id, number=3, name="Carol")

    assert (saved.user_id, saved.name, saved.is_default) == (user_id, "carol", True)  # the first face
    (embedding,) = saved.embeddings
    vector = np.frombuffer(embedding.vector, "<f4")
    fresh = [
        classic.identity(group_photo, f).embeddings[EMBEDDING_MODEL] for f in classic.detect(group_photo)
    ]
    distances = [float(np.linalg.norm(vector - other)) for other in fresh]
    assert distances[2] < 0.6
    assert int(np.argmin(distances)) == 2  # face 3 and nobody else
    assert len(saved.landmarks) == 68

    target_id, target_unique = real.telegram.add_file(encode(astronaut))
    swap = JobRequest(
        user_id=user_id,
        kind="swap",
        target=InputRef.telegram(target_id, target_unique),
        source=SavedFaceRef(saved.id),
        delivery=Delivery("telegram", str(real.chat)),
    )
    ticket = await real.client.submit(swap)
    await real.drain()
    assert (await real.job(ticket.job_id)).status == "succeeded"
    result = real.telegram.sent_to(real.chat, "photo")[-1]
    assert result.data is not None
    swapped = decode_image(result.data)
    (face,) = classic.detect(astronaut, embed=False)
    x1, y1, x2, y2 = (round(v) for v in face.box)
    changed = np.abs(swapped[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2].astype(int)).mean()
    assert changed > 10  # the astronaut's face was replaced, not just re-encoded


async def test_saving_refuses_foreign_unfinished_unknown_and_expired_analyses(
    real: Harness, group_photo: np.ndarray
) -> None:
    owner = await real.user(balance=2)
    ticket = await real.client.submit(analysis_of(real, owner, group_photo))

    with pytest.raises(AnalysisNotFinished) as waiting:
        await save_from(real.db, user_id=owner, job_id=ticket.job_id, number=1, name="early")
    assert waiting.value.params == {"hint": "queued"}

    await real.drain()
    stranger = await real.user()
    with pytest.raises(NotYourAnalysis):
        await save_from(real.db, user_id=stranger, job_id=ticket.job_id, number=1, name="mine")
    with pytest.raises(NotYourAnalysis):
        await save_from(real.db, user_id=owner, job_id="analyze:no-such-job", number=1, name="x")
    swap = await real.client.submit(await real.request(owner))
    with pytest.raises(NotYourAnalysis):  # a job of another kind has no faces to save
        await save_from(real.db, user_id=owner, job_id=swap.job_id, number=1, name="x")
    for number in (7, 0):
        with pytest.raises(NoSuchFace) as missing:
            await save_from(real.db, user_id=owner, job_id=ticket.job_id, number=number, name="x")
        assert missing.value.params == {"number": number, "count": 6}

    async with real.db.session() as session:
        assert await analyses.count(session, ticket.job_id) == 6
    purged = await real.sweeper.cleanup(now=utcnow() + timedelta(hours=real.config.retention_hours + 1))

    assert ticket.job_id in {p.job_id for p in purged}
    assert await stored_faces(real.db, ticket.job_id) == []
    async with real.db.session() as session:
        orphans = await session.scalar(
            select(func.count())
            .select_from(AnalysedFaceEmbedding)
            .where(AnalysedFaceEmbedding.job_id == ticket.job_id)
        )
    assert orphans == 0
    assert (await real.job(ticket.job_id)).status == "succeeded"  # the row stays, its faces are gone
    with pytest.raises(AnalysisExpired):
        await save_from(real.db, user_id=owner, job_id=ticket.job_id, number=1, name="late")
    async with real.db.session() as session:
        assert await db_faces.count(session, owner) == 0  # none of the refusals saved anything


async def test_a_photo_without_a_face_fails_with_no_face_and_nothing_to_refund(real: Harness) -> None:
    user_id, job_id = await analysed(real, picture(size=(200, 240)))

    job = await real.job(job_id)
    assert (job.status, job.error_code, job.cost) == ("failed", "no_face", 0)
    assert await real.ledger_keys(job_id) == []
    assert await real.balance(user_id) == 2
    assert await stored_faces(real.db, job_id) == []
    assert real.telegram.sent_to(real.chat, "photo") == []
    (told,) = real.telegram.sent_to(real.chat, "message")
    assert told.text == Catalogue().text("no_face")


async def save_from(db: Database, **asked: Any) -> SavedFace:
    """``db.analyses.save_from`` in a transaction of its own, as the save picker's flow runs it."""
    async with db.transaction() as session:
        return await analyses.save_from(session, **asked)
