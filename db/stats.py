"""Figures for the admins' /stats: users, today's jobs by outcome, the queue, Stars taken, jobs the
content guard refused and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import reports
from db.models import Job, JobKind, JobStatus, Payment, PaymentStatus, Provider, User

# The error code of a job the content guard refused (jobs/: the worker's nudity guard).
CONTENT_BLOCKED = "content_blocked"


@dataclass(frozen=True, slots=True)
class Stats:
    users: int
    banned: int
    jobs_since: dict[str, int]  # status -> jobs asked for since the cut-off (analyses left out)
    queued: int
    running: int
    stars_since: int  # Stars paid since the cut-off and not refunded
    stars_total: int
    blocked_since: int  # jobs the content guard refused since the cut-off (analyses included)
    reports: reports.ReportCounts


async def collect(session: AsyncSession, since: datetime) -> Stats:
    users = await session.scalar(select(func.count()).select_from(User)) or 0
    banned = await session.scalar(select(func.count()).select_from(User).where(User.is_banned)) or 0
    # Analyses are free face searches that every photo starts: counting them would drown the swaps.
    by_status = (
        await session.execute(
            select(Job.status, func.count())
            .where(Job.created_at >= since, Job.kind != JobKind.ANALYZE.value)
            .group_by(Job.status)
        )
    ).all()
    jobs_since = {str(status): int(count) for status, count in by_status}
    active_rows = await session.execute(
        select(Job.status, func.count())
        .where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .group_by(Job.status)
    )
    active = {str(status): int(count) for status, count in active_rows}
    paid = select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.provider == Provider.TELEGRAM_STARS.value, Payment.status == PaymentStatus.PAID.value
    )
    stars_total = await session.scalar(paid) or 0
    stars_since = await session.scalar(paid.where(Payment.created_at >= since)) or 0
    blocked = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.created_at >= since,
            Job.status == JobStatus.FAILED.value,
            Job.error_code == CONTENT_BLOCKED,
        )
    )
    return Stats(
        users=users,
        banned=banned,
        jobs_since=jobs_since,
        queued=int(active.get(JobStatus.QUEUED.value, 0)),
        running=int(active.get(JobStatus.RUNNING.value, 0)),
        stars_since=int(stars_since),
        stars_total=int(stars_total),
        blocked_since=int(blocked or 0),
        reports=await reports.counts(session, since),
    )
