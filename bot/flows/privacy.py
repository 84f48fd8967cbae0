"""/privacy (what is kept, for how long, how to delete it) and /forget (delete it all).

/forget cancels the user's waiting and running jobs first, refunded, so nothing runs for a forgotten
user, then deletes the user with db.forget.forget_user in one transaction. What stays is anonymised
accounting (ledger and payment rows without the user) and the free-grant digest, so coming back does
not give the free credits again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot.flows.credits import cancel
from bot.services import Services
from db import faces as db_faces
from db.errors import UserNotFound
from db.forget import forget_user
from db.models import Job, User


@dataclass(frozen=True, slots=True)
class Kept:
    """What is kept about this user now, and the retention of inputs and results."""

    faces: int
    jobs: int
    retention_hours: float


async def kept(services: Services, user: User) -> Kept:
    async with services.db.session() as session:
        faces = await db_faces.count(session, user.id)
        jobs = await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user.id))
    return Kept(faces, jobs or 0, services.config.retention_hours)


@dataclass(frozen=True, slots=True)
class Forgotten:
    faces: int
    jobs: int  # job rows deleted (the cancelled ones included)
    cancelled: int  # waiting or running jobs cancelled and refunded first


async def forget(services: Services, user: User) -> Forgotten | None:
    """Delete everything of ``user``; None when there was nothing left (pressed twice)."""
    try:
        cancelled = await cancel(services, user)
        async with services.db.transaction() as session:
            done = await forget_user(session, user.id)
    except UserNotFound:
        return None
    return Forgotten(done.faces, len(done.jobs), cancelled.jobs)


async def exists(services: Services, user_id: int) -> bool:
    """Whether our user ``user_id`` is still there (a /forget button outlives its user)."""
    async with services.db.session() as session:
        return await session.get(User, user_id) is not None
