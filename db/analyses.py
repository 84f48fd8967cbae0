"""The faces a job found in its photo: written when the job ends (an analysis's success, a swap that
needs a choice), read when one of them is saved or swapped, deleted with the job's other data
(retention purge, /forget)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.faces import float32_vectors
from db.models import AnalysedFace, AnalysedFaceEmbedding


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
