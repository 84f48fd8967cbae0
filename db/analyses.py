"""The faces a job found in its photo: written when the job ends (an analysis's success, a swap that
needs a choice), read when one of them is saved (``save_face``: its chip, landmarks and every embedding
become a saved face, under ``db.faces.save``'s rules) or swapped, deleted with the job's other data
(retention purge, /forget).

The job id and face number come from a button a client sends back, so everything is checked again:
the job is this user's analysis, it ended with its faces, they are still kept, and the number is one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import faces as db_faces
from db.errors import AnalysisExpired, AnalysisNotFinished, NoSuchFace, NotYourAnalysis
from db.faces import float32_vectors
from db.models import AnalysedFace, AnalysedFaceEmbedding, Job, JobKind, JobStatus, SavedFace

# An analysis's faces can be saved once it has ended with them: as a plain analysis, or as one for
# saving whose photo had several faces (the picker's choice).
CHOSEN_FROM = frozenset({JobStatus.SUCCEEDED.value, JobStatus.NEEDS_CHOICE.value})


@dataclass(frozen=True, slots=True)
class FoundFace:
    """One face as the worker hands it over: ``box`` (x1, y1, x2, y2) and ``score`` from the detector;
    ``chip`` (JPEG), ``landmarks`` (chip pixels) and ``embeddings`` (model -> float32 bytes) as
    ``db.faces.save`` takes them; ``kps`` and ``points`` (68 landmarks, when the engine gives them): the
    detection in photo pixels, which a later swap of this face uses instead of detecting again."""

    box: Sequence[float]
    score: float
    chip: bytes
    landmarks: Sequence[Sequence[float]]
    embeddings: Mapping[str, bytes]
    kps: Sequence[Sequence[float]] | None = None
    points: Sequence[Sequence[float]] | None = None


async def store(session: AsyncSession, job_id: str, faces: Sequence[FoundFace]) -> None:
    """Keep ``faces`` for ``job_id``, numbered 1.. in the order given (reading order)."""
    for number, face in enumerate(faces, start=1):
        if len(face.box) != 4:
            raise ValueError(f"face {number}: a box is 4 numbers, not {len(face.box)}")
        session.add(
            AnalysedFace(
                job_id=job_id,
                number=number,
                box=[float(v) for v in face.box],
                score=float(face.score),
                chip=bytes(face.chip),
                landmarks=_points(face.landmarks),
                kps=_points(face.kps) if face.kps is not None else None,
                points=_points(face.points) if face.points is not None else None,
                embeddings=_embedding_rows(number, face.embeddings),
            )
        )
    await session.flush()


async def get(session: AsyncSession, job_id: str, number: int) -> AnalysedFace | None:
    return await session.scalar(
        select(AnalysedFace)
        .where(AnalysedFace.job_id == job_id, AnalysedFace.number == number)
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True, slots=True)
class Detection:
    """Where a stored face is in its photo: what a swap of it needs (no chip, no embedding)."""

    box: list[float]
    score: float
    kps: list[list[float]]
    points: list[list[float]] | None


async def detections(session: AsyncSession, job_id: str) -> list[Detection] | None:
    """The detections of ``job_id``'s faces in their numbers' order; None when there are none to reuse
    (purged, or stored before key points were kept)."""
    rows = (
        await session.execute(
            select(AnalysedFace.box, AnalysedFace.score, AnalysedFace.kps, AnalysedFace.points)
            .where(AnalysedFace.job_id == job_id)
            .order_by(AnalysedFace.number)
        )
    ).all()
    if not rows or any(row.kps is None for row in rows):
        return None
    return [Detection(list(row.box), float(row.score), row.kps, row.points) for row in rows]


async def count(session: AsyncSession, job_id: str) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(AnalysedFace).where(AnalysedFace.job_id == job_id)
        )
        or 0
    )


async def delete_for_jobs(session: AsyncSession, job_ids: Collection[str]) -> None:
    """Drop the analysed faces of ``job_ids``, embeddings first: correct without foreign keys too."""
    if not job_ids:
        return
    ids = list(job_ids)
    await session.execute(
        delete(AnalysedFaceEmbedding)
        .where(AnalysedFaceEmbedding.job_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(AnalysedFace).where(AnalysedFace.job_id.in_(ids)).execution_options(synchronize_session=False)
    )


def _points(points: Sequence[Sequence[float]]) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in points]


def _embedding_rows(number: int, embeddings: Mapping[str, bytes]) -> list[AnalysedFaceEmbedding]:
    return [
        AnalysedFaceEmbedding(model=model, dim=dim, vector=vector)
        for model, dim, vector in float32_vectors(embeddings, f"face {number}")
    ]


async def save_from(
    session: AsyncSession, *, user_id: int, job_id: str, number: int, name: str, make_default: bool = False
) -> SavedFace:
    """Save face ``number`` (1-based, as numbered in the preview) of analysis ``job_id`` as ``name``."""
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or job.user_id != user_id or job.kind != JobKind.ANALYZE.value:
        raise NotYourAnalysis(job_id)
    if job.status not in CHOSEN_FROM:
        raise AnalysisNotFinished(job_id, job.status)
    return await save_face(session, job, number, name, make_default=make_default)


async def save_face(
    session: AsyncSession, job: Job, number: int, name: str, *, make_default: bool = False
) -> SavedFace:
    """Face ``number`` of ``job``'s photo saved as ``name`` for the job's user."""
    if job.purged_at is not None:
        raise AnalysisExpired(job.id)
    face = await get(session, job.id, number)
    if face is None:
        found = await count(session, job.id)
        if found == 0:  # purged between our two reads
            raise AnalysisExpired(job.id)
        raise NoSuchFace(number, found)
    return await db_faces.save(
        session,
        job.user_id,
        name,
        chip=face.chip,
        landmarks=face.landmarks,
        embeddings={row.model: row.vector for row in face.embeddings},
        make_default=make_default,
    )
