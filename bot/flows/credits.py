"""Account commands: the balance, the last jobs (with sending a finished one again), cancelling.

A job named by a client (a button's data) is only acted on when it belongs to the user asking: a
foreign or unknown job reads as "not yours" and nothing happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from bot.services import Services
from db import jobs as db_jobs
from db import ledger
from db.errors import JobNotFound
from db.jobs import Delivery
from db.models import Job, JobKind, JobStatus, User
from jobs.client import Cancel

HISTORY_SIZE = 10


async def balance(services: Services, user: User) -> int:
    async with services.db.session() as session:
        return await ledger.balance(session, user.id)


@dataclass(frozen=True, slots=True)
class JobLine:
    job_id: str
    kind: str  # db.models.JobKind value
    status: str  # db.models.JobStatus value
    created_at: datetime
    resendable: bool  # succeeded and its result still kept: it can be sent again for free


async def history(services: Services, user: User, *, limit: int = HISTORY_SIZE) -> list[JobLine]:
    """The user's latest jobs, newest first. Face searches (free analyses) and photos that asked which
    face (refunded, the choice is its own job) are not listed: they are a step of saving or picking a
    face, not something a person got."""
    async with services.db.session() as session:
        jobs = await db_jobs.for_user(session, user.id, limit=limit * 3)
    lines = [
        JobLine(
            job.id,
            job.kind,
            job.status,
            job.created_at,
            job.status == JobStatus.SUCCEEDED.value and job.result_ref is not None,
        )
        for job in jobs
        if job.kind != JobKind.ANALYZE.value and job.status != JobStatus.NEEDS_CHOICE.value
    ]
    return lines[:limit]


class Resend(StrEnum):
    SENT = "resent"
    NOT_YOURS = "not_your_job"  # unknown, someone else's, or deleted by /forget
    GONE = "resend_unavailable"  # not finished, failed, or its result was dropped by retention


async def resend(services: Services, user: User, job_id: str, delivery: Delivery | None = None) -> Resend:
    """Send the stored result of the user's finished job again, with no new job and no charge."""
    async with services.db.session() as session:
        job = await db_jobs.get_or_none(session, job_id)
    if job is None or job.user_id != user.id:
        return Resend.NOT_YOURS
    try:
        sent = await services.jobs.resend(job_id, delivery)
    except JobNotFound:  # forgotten between the check and the send
        return Resend.NOT_YOURS
    return Resend.SENT if sent else Resend.GONE


@dataclass(frozen=True, slots=True)
class Cancelled:
    jobs: int  # how many were cancelled now
    refunded: int  # credits given back for them
    balance: int
    on_its_way: int = 0  # jobs whose result was already being sent: not cancelled, and paid for


async def cancel(services: Services, user: User) -> Cancelled:
    """Cancel every job of the user that waits or runs, each refunded exactly once (the job client
    moves it by compare-and-set, so a job finishing meanwhile is left as it is). A job whose result is
    already being sent is not cancelled: it arrives and stays paid for (db.jobs: cancel vs delivery)."""
    count = refunded = on_its_way = 0
    for job in await active_jobs(services, user):
        try:
            done = await services.jobs.cancel(job.id, user_id=user.id)
        except JobNotFound:
            continue
        if done is Cancel.CANCELLED:
            count += 1
            refunded += job.cost
        elif done is Cancel.ON_ITS_WAY:
            on_its_way += 1
    return Cancelled(count, refunded, await balance(services, user), on_its_way)


def cancel_reply(done: Cancelled) -> list[tuple[str, dict[str, int]]]:
    """The sentences (code, parameters) that answer /cancel on every platform, in order."""
    lines: list[tuple[str, dict[str, int]]] = []
    if done.jobs:
        lines.append(
            ("cancel_done", {"count": done.jobs, "refunded": done.refunded, "credits": done.balance})
        )
    if done.on_its_way:
        lines.append(("cancel_on_its_way", {"count": done.on_its_way}))
    return lines or [("cancel_none", {})]


async def active_jobs(services: Services, user: User) -> list[Job]:
    """The user's jobs that wait or run, oldest first."""
    async with services.db.session() as session:
        rows = await session.scalars(
            select(Job)
            .where(Job.user_id == user.id, Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
            .order_by(Job.created_at)
        )
        return list(rows)
