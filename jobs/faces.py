"""Saving a face the user picked from an analysis: the chosen face's chip, landmarks and every embedding
the worker made go into the user's saved faces (``db.faces.save`` and its rules: names, the face limit,
the first face becomes the default). No engine here: the worker did the engine work when it analysed.

The job id and face number come from a button a client sends back, so everything is checked again:
the job is this user's analysis, it succeeded, its faces are still kept, and the number is one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import analyses
from db import faces as db_faces
from db import jobs as db_jobs
from db.errors import DbError
from db.models import Job, JobKind, JobStatus, SavedFace
from db.session import Database
from jobs.texts import FACE_SAVED

# An analysis's faces can be saved once it has ended with them: as a plain analysis, or as one for
# saving whose photo had several faces (the picker's choice).
CHOSEN_FROM = frozenset({JobStatus.SUCCEEDED.value, JobStatus.NEEDS_CHOICE.value})


class FaceNotSaved(Exception):
    """Why a face was not saved: a stable ``code`` and its ``params`` for the catalogue; ``str(exc)`` is
    for logs. ``db.faces.save``'s own refusals (``InvalidName``, ``DuplicateName``, ``FaceLimitReached``)
    pass through as they are."""

    code = "face_not_saved"

    def __init__(self, detail: str = "", /, **params: Any) -> None:
        self.params: dict[str, Any] = params
        super().__init__(detail or self.code.replace("_", " "))


class NotYourAnalysis(FaceNotSaved):
    """No analysis of this user has that id: another user's job, another kind of job, or none at all
    (the three look alike, so a forged button learns nothing)."""

    code = "not_your_analysis"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is not an analysis of this user")


class AnalysisNotFinished(FaceNotSaved):
    """The analysis has not succeeded: ``hint`` is its status (queued, running, failed, cancelled)."""

    code = "analysis_not_finished"

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"analysis {job_id} is {status}", hint=status)


class AnalysisExpired(FaceNotSaved):
    """The retention period is over: the analysed faces were deleted."""

    code = "analysis_expired"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"analysis {job_id} was purged")


class NoSuchFace(FaceNotSaved):
    """Face ``number`` is not among the ``count`` faces the analysis found."""

    code = "bad_face_index"

    def __init__(self, number: int, count: int) -> None:
        super().__init__(
            f"face {number} does not exist: the photo has {count} face(s)", number=number, count=count
        )


async def save_from_analysis(
    db: Database, *, user_id: int, job_id: str, number: int, name: str, make_default: bool = False
) -> SavedFace:
    """Save face ``number`` (1-based, as numbered in the preview) of analysis ``job_id`` as ``name``."""
    async with db.transaction() as session:
        job = await db_jobs.get_or_none(session, job_id)
        if job is None or job.user_id != user_id or job.kind != JobKind.ANALYZE.value:
            raise NotYourAnalysis(job_id)
        if job.status not in CHOSEN_FROM:
            raise AnalysisNotFinished(job_id, job.status)
        return await _save(session, job, number, name, make_default=make_default)


async def _save(
    session: AsyncSession, job: Job, number: int, name: str, *, make_default: bool = False
) -> SavedFace:
    if job.purged_at is not None:
        raise AnalysisExpired(job.id)
    face = await analyses.get(session, job.id, number)
    if face is None:
        count = await analyses.count(session, job.id)
        if count == 0:  # purged between our two reads
            raise AnalysisExpired(job.id)
        raise NoSuchFace(number, count)
    return await db_faces.save(
        session,
        job.user_id,
        name,
        chip=face.chip,
        landmarks=face.landmarks,
        embeddings={row.model: row.vector for row in face.embeddings},
        make_default=make_default,
    )


@dataclass(frozen=True, slots=True)
class Saved:
    """How an analysis for saving that found one face ended: saved (``face_saved``, its name) or refused
    (the refusal's code and params: a name taken since, the face limit reached)."""

    code: str
    params: dict[str, Any]


async def save_one_face(session: AsyncSession, job: Job) -> Saved:
    """The worker's end of an analysis for saving whose photo has one face: that face saved under the
    name asked, in the transaction that ends the job (so the job cannot end without it). A refusal
    leaves the job succeeded, and says why."""
    name = str((job.params or {}).get("name", ""))
    try:
        async with session.begin_nested():
            face = await _save(session, job, 1, name)
    except (FaceNotSaved, DbError) as exc:
        return Saved(exc.code, refusal_params(exc))
    return Saved(FACE_SAVED, {"name": face.name})


def refusal_params(exc: Exception) -> dict[str, Any]:
    """The catalogue params of a face refusal: ours, or db's named attributes."""
    if isinstance(exc, FaceNotSaved):
        return dict(exc.params)
    return {key: getattr(exc, key) for key in ("name", "limit") if hasattr(exc, key)}
