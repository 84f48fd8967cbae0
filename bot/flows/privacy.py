"""/privacy (what is kept, for how long, how to delete it) and /forget (delete it all).

/forget cancels the user's waiting and running jobs first, refunded, so nothing runs for a forgotten
user, then deletes the user with db.forget.forget_user in one transaction. A result already being sent
cannot be called back: /forget waits for that delivery to end (seconds), so nothing reaches the chat
after the user is forgotten, and says so when it does not end in time. What stays is anonymised
accounting (ledger and payment rows without the user) and the free-grant digest, so coming back does
not give the free credits again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.flows.credits import cancel
from bot.services import Services
from db import faces as db_faces
from db.errors import DeliveryUnderway, UserNotFound
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


@dataclass(frozen=True, slots=True)
class StillDelivering:
    """A result of the user's was being sent the whole time /forget waited: nothing was deleted."""


FORGET_WAIT_S = 10.0  # a delivery is one upload: this is long enough for all but a stuck one
FORGET_POLL_S = 0.2


async def forget(services: Services, user: User) -> Forgotten | StillDelivering | None:
    """Delete everything of ``user``; None when there was nothing left (pressed twice)."""
    deadline = time.monotonic() + FORGET_WAIT_S
    cancelled = 0
    while True:
        try:
            cancelled += (await cancel(services, user)).jobs
            async with services.db.transaction() as session:
                done = await forget_user(session, user.id)
        except UserNotFound:
            return None
        except DeliveryUnderway:
            if time.monotonic() >= deadline:
                return StillDelivering()
            await asyncio.sleep(FORGET_POLL_S)
            continue
        return Forgotten(done.faces, len(done.jobs), cancelled)


def forget_reply(done: Forgotten | StillDelivering | None) -> tuple[str, dict[str, int]]:
    """The sentence (code, parameters) that answers a confirmed /forget on every platform."""
    if done is None:
        return "forget_nothing", {}
    if isinstance(done, StillDelivering):
        return "forget_busy", {}
    return "forget_done", {"faces": done.faces, "jobs": done.jobs}


async def exists(services: Services, user_id: int) -> bool:
    """Whether our user ``user_id`` is still there (a /forget button outlives its user)."""
    async with services.db.session() as session:
        return await session.get(User, user_id) is not None
