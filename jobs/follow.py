"""What an analysis does by itself when the photo has exactly one face: nobody needs a picker to choose
the only face. An analysis asked with ``purpose`` "save" saves that face under its ``name``; one with
"swap" submits the swap of the saved ``face`` onto it, charged then (``cost``), into the same status
message. With no face, or several, the analysis ends as usual (the failure, or the numbered preview).

The follow-up runs after the analysis succeeded, so the faces it reads are stored; the swap's job id is
derived like any other, so a picker choice of face 1 and this follow-up are the same job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from db.errors import DbError, InsufficientCredits
from db.jobs import Delivery, delivery_of
from db.models import Job, JobKind
from db.session import Database
from jobs import texts as codes
from jobs.client import JobClient
from jobs.faces import FaceNotSaved, save_from_analysis
from jobs.notify import Target
from jobs.notify.teller import Teller
from jobs.request import InputRef, JobRequest, SavedFaceRef

log = structlog.get_logger("jobs.follow")

PURPOSES = ("save", "swap")


def applies(job: Job, face_count: int | None) -> bool:
    purpose = (job.params or {}).get("purpose")
    return face_count == 1 and job.kind == JobKind.ANALYZE.value and purpose in PURPOSES


def one_face_swap(
    analysis: Job,
    *,
    faces: list[int] | None = None,
    face_id: int | None = None,
    delivery: Delivery | None = None,
) -> JobRequest:
    """The swap an analysis asked for with purpose "swap": its saved face (or ``face_id``) onto target
    faces ``faces`` (default the one face; a picker passes None for all), to ``delivery`` (default the
    analysis's own status message)."""
    params = analysis.params or {}
    if not analysis.inputs or "target" not in analysis.inputs:
        raise ValueError(f"analysis {analysis.id} has no photo any more")
    return JobRequest(
        user_id=analysis.user_id,
        kind=JobKind.SWAP,
        target=InputRef.from_json(analysis.inputs["target"]),
        source=SavedFaceRef(face_id if face_id is not None else int(params["face"])),
        params={
            "faces": faces,
            "restorer": params.get("restorer"),
            "mix": _mix(params, face_id),
            # the content guard's NSFW-channel rule follows the photo into its swap
            **({"channel_nsfw": True} if params.get("channel_nsfw") else {}),
        },
        cost=int(params.get("cost", 1)),
        delivery=delivery or delivery_of(analysis),
    )


def _mix(params: Mapping[str, Any], face_id: int | None) -> list[int] | None:
    """The faces mixed in go with the analysis's own saved face only (a picker may choose another)."""
    if face_id is not None and face_id != params.get("face"):
        return None
    return list(params.get("mix") or []) or None


class FollowUp:
    def __init__(self, db: Database, client: JobClient, teller: Teller) -> None:
        self.db = db
        self.client = client
        self.teller = teller

    async def run(self, job: Job, target: Target | None) -> None:
        """Never raises: the analysis stands; what went wrong is said in its status message."""
        try:
            if (job.params or {}).get("purpose") == "save":
                await self._save(job, target)
            else:
                await self.client.submit(one_face_swap(job, faces=[1]))
        except InsufficientCredits as exc:
            await self.teller.ending(target, codes.NO_CREDITS, balance=exc.balance, needed=exc.needed)
        except Exception as exc:
            log.warning("follow-up failed", job_id=job.id, error=repr(exc))
            await self.teller.ending(target, "internal_error")

    async def _save(self, job: Job, target: Target | None) -> None:
        name = str((job.params or {}).get("name", ""))
        try:
            face = await save_from_analysis(self.db, user_id=job.user_id, job_id=job.id, number=1, name=name)
        except (FaceNotSaved, DbError) as exc:
            await self.teller.ending(target, exc.code, **refusal_params(exc))
            return
        await self.teller.ending(target, codes.FACE_SAVED, name=face.name)


def refusal_params(exc: Exception) -> dict[str, Any]:
    """The catalogue params of a face refusal: jobs.faces' own, or db's named attributes."""
    if isinstance(exc, FaceNotSaved):
        return dict(exc.params)
    return {key: getattr(exc, key) for key in ("name", "limit") if hasattr(exc, key)}
