"""Analysed faces: kept with their job, numbered in order, and gone with the job's other data at the
retention purge and at /forget, on Postgres and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from db import analyses, jobs
from db.analyses import FoundFace
from db.forget import forget_user
from db.models import AnalysedFace, AnalysedFaceEmbedding
from db.session import Database
from tests.db.conftest import NewUser

# This file's jobs live in their own past, so the purge below touches no other test's jobs, and each
# test purges its jobs when it ends, so no other test's purge finds them.
T = datetime(1981, 1, 1, tzinfo=UTC)
PAST_END = T + timedelta(days=365)


@pytest.fixture(autouse=True)
async def purged_afterwards(db: Database) -> AsyncIterator[None]:
    yield
    async with db.transaction() as session:
        await jobs.purge_before(session, PAST_END)


def found(seed: int, models: tuple[str, ...] = ("dlib", "arcface")) -> FoundFace:
    rng = np.random.default_rng(seed)
    return FoundFace(
        box=[10.0 * seed, 20.0, 10.0 * seed + 50, 80.0],
        score=0.5 + seed / 10,
        chip=rng.bytes(300),
        landmarks=rng.random((68, 2)).tolist(),
        embeddings={m: rng.random(128 if m == "dlib" else 512).astype("<f4").tobytes() for m in models},
    )


async def succeeded_analysis(db: Database, user_id: int, faces: list[FoundFace], when: datetime) -> str:
    job_id = f"analyze:{uuid.uuid4().hex}"
    async with db.transaction() as session:
        await jobs.create(session, job_id=job_id, user_id=user_id, kind="analyze", cost=0, now=when)
        await jobs.start(session, job_id, worker_id="w", lease=timedelta(minutes=1), now=when)
        await jobs.succeed(session, job_id, worker_id="w", now=when)
        await analyses.store(session, job_id, faces)
    return job_id


async def rows_of(db: Database, job_id: str) -> tuple[int, int]:
    async with db.session() as session:
        faces = await session.scalar(
            select(func.count()).select_from(AnalysedFace).where(AnalysedFace.job_id == job_id)
        )
        vectors = await session.scalar(
            select(func.count())
            .select_from(AnalysedFaceEmbedding)
            .where(AnalysedFaceEmbedding.job_id == job_id)
        )
    return faces or 0, vectors or 0


async def test_faces_are_kept_numbered_with_every_embedding(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    given = [found(1), found(2), found(3, models=("dlib",))]
    job_id = await succeeded_analysis(db, user_id, given, T + timedelta(days=30))

    async with db.session() as session:
        assert await analyses.count(session, job_id) == 3
        second = await analyses.get(session, job_id, 2)
        third = await analyses.get(session, job_id, 3)
        assert await analyses.get(session, job_id, 4) is None
    assert second is not None and third is not None
    assert (second.box, second.chip, second.landmarks) == (given[1].box, given[1].chip, given[1].landmarks)
    assert second.score == pytest.approx(given[1].score)
    assert {e.model: (e.dim, e.vector) for e in second.embeddings} == {
        "arcface": (512, given[1].embeddings["arcface"]),
        "dlib": (128, given[1].embeddings["dlib"]),
    }
    assert [e.model for e in third.embeddings] == ["dlib"]


async def test_a_face_without_float32_embeddings_is_refused(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    job_id = await succeeded_analysis(db, user_id, [], T + timedelta(days=30))
    bad = FoundFace(box=[0, 0, 1, 1], score=1.0, chip=b"x", landmarks=[[0, 0]] * 5, embeddings={"m": b"abc"})
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="float32"):
            await analyses.store(session, job_id, [bad])
        with pytest.raises(ValueError, match="no embedding"):
            await analyses.store(session, job_id, [FoundFace([0, 0, 1, 1], 1.0, b"x", [[0, 0]] * 5, {})])


async def test_the_retention_purge_deletes_the_faces_of_purged_jobs_only(
    db: Database, new_user: NewUser
) -> None:
    user_id = await new_user()
    old = await succeeded_analysis(db, user_id, [found(1), found(2)], T)
    recent = await succeeded_analysis(db, user_id, [found(3)], T + timedelta(hours=2))

    async with db.transaction() as session:
        purged = await jobs.purge_before(session, T + timedelta(hours=1))

    assert [p.job_id for p in purged] == [old]
    assert await rows_of(db, old) == (0, 0)
    assert await rows_of(db, recent) == (1, 2)


async def test_forget_deletes_the_users_analysed_faces(db: Database, new_user: NewUser) -> None:
    gone, stays = await new_user(), await new_user()
    theirs = await succeeded_analysis(db, gone, [found(1)], T + timedelta(days=60))
    others = await succeeded_analysis(db, stays, [found(2)], T + timedelta(days=60))

    async with db.transaction() as session:
        await forget_user(session, gone)

    assert await rows_of(db, theirs) == (0, 0)
    assert await rows_of(db, others) == (1, 2)
