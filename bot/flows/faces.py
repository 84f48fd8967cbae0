"""Saved faces: saving one from a photo, listing them, making one the default, renaming, deleting.

Saving goes through one free analysis job whose params carry the name (jobs.params, purpose "save"): with
one face the worker saves it in the transaction that ends the job (jobs/execute.py); with
several the job ends as needing a choice and the picker's choice lands in ``pick``. Buttons name faces
by id: every action checks the face is the user's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows.base import SUBMITTED, Answer, OpenStatus, Photo, check_photo, check_picker, submit
from bot.flows.pickers import Picker
from bot.services import Services
from db import analyses
from db import faces as db_faces
from db import jobs as db_jobs
from db.errors import DbError, InvalidName
from db.models import JobKind, JobStatus, SavedFace, User
from jobs.errors import error_params
from jobs.request import JobRequest

DEFAULT_NAME = "face"  # unnamed faces are face1, face2, ...


@dataclass(frozen=True, slots=True)
class FaceInfo:
    id: int
    name: str
    is_default: bool


async def start_save(
    services: Services, user: User, photo: Photo, name: str | None, open_status: OpenStatus
) -> Answer:
    """``/setface [name]`` with a photo: refused at once for a bad name, a taken name or a full list."""
    refused = check_photo(services, photo)
    if refused is not None:
        return refused
    async with services.db.session() as session:
        taken = {face.name for face in await db_faces.list_for_user(session, user.id)}
    if len(taken) >= db_faces.MAX_FACES:
        return Answer("face_limit", {"limit": db_faces.MAX_FACES})
    if name is None:
        free = (f"{DEFAULT_NAME}{n}" for n in range(1, len(taken) + 2))
        name = next(candidate for candidate in free if candidate not in taken)
    try:
        name = db_faces.normalize_name(name)
    except InvalidName:
        return Answer("invalid_name", {"name": name, "max": db_faces.MAX_NAME})
    if name in taken:
        return Answer("duplicate_name", {"name": name})
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.ANALYZE,
        target=photo.ref,
        params={"purpose": "save", "name": name},
        cost=0,
        delivery=delivery,
    )
    answer = await submit(services, request, delivery)
    ticket = answer.ticket
    if answer.code == SUBMITTED or ticket is None or ticket.status != JobStatus.SUCCEEDED.value:
        return answer
    # The same photo under the same name again, its one face saved (or refused) then: saved now, as
    # the face may have been deleted or the name freed since.
    return await _save(services, user, ticket.job_id, 1)


async def pick(services: Services, user: User, analysis_id: str, number: int) -> Answer:
    """The save picker's button: face ``number`` of analysis ``analysis_id`` under the name it was
    asked with."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, analysis_id)
        refused = await check_picker(session, job, user, number, Picker.SAVE)
        if refused is not None:
            return refused
    return await _save(services, user, analysis_id, number)


async def _save(services: Services, user: User, analysis_id: str, number: int) -> Answer:
    async with services.db.session() as session:
        job = await db_jobs.get(session, analysis_id)
    name = str((job.params or {}).get("name", ""))
    try:
        async with services.db.transaction() as session:
            face = await analyses.save_from(
                session, user_id=user.id, job_id=analysis_id, number=number, name=name
            )
    except DbError as exc:
        return Answer(exc.code, error_params(exc))
    return Answer("face_saved", {"name": face.name})


async def list_faces(services: Services, user: User) -> list[FaceInfo]:
    async with services.db.session() as session:
        faces = await db_faces.list_for_user(session, user.id)
    return [FaceInfo(face.id, face.name, face.is_default) for face in faces]


async def make_default(services: Services, user: User, face_id: int) -> Answer:
    async with services.db.transaction() as session:
        face = await _own_face(session, user, face_id)
        if face is None:
            return Answer("face_not_found")
        await db_faces.set_default(session, user.id, face.name)
        return Answer("face_default_set", {"name": face.name})


async def rename(services: Services, user: User, face_id: int, new_name: str) -> Answer:
    async with services.db.transaction() as session:
        face = await _own_face(session, user, face_id)
        if face is None:
            return Answer("face_not_found")
        try:
            name = db_faces.normalize_name(new_name)
        except InvalidName:
            return Answer("invalid_name", {"name": new_name, "max": db_faces.MAX_NAME})
        if name != face.name:
            taken = {other.name for other in await db_faces.list_for_user(session, user.id)}
            if name in taken:
                return Answer("duplicate_name", {"name": name})
        old, face.name = face.name, name
        return Answer("face_renamed", {"old": old, "name": name})


async def delete(services: Services, user: User, face_id: int) -> Answer:
    async with services.db.transaction() as session:
        face = await _own_face(session, user, face_id)
        if face is None:
            return Answer("face_not_found")
        await db_faces.delete_face(session, user.id, face.name)
        return Answer("face_deleted", {"name": face.name})


async def _own_face(session: AsyncSession, user: User, face_id: int) -> SavedFace | None:
    """The face with id ``face_id`` if it is ``user``'s; a foreign or unknown id looks the same."""
    face = await session.get(SavedFace, face_id, populate_existing=True)
    return face if face is not None and face.user_id == user.id else None
