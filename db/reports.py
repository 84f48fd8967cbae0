"""Reports of delivered results: made once per (job, reporter), decided by an admin once (open ->
confirmed or dismissed), counted against the job's owner when confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Job, JobKind, JobStatus, Report, ReportStatus, User
from db.sql import insert_ignore


async def find_result_job(
    session: AsyncSession, platform: str, chat: str, message: str, attachments: tuple[str, ...] = ()
) -> Job | None:
    """The delivered job whose result is message ``message`` in ``chat``: by the stored result message,
    else (a result stored before message ids were kept, or a Discord followup whose reference is its
    attachment's URL) by an attachment id in the result reference, while it is still kept."""
    named = [Job.result_message == message, Job.result_ref == message]
    named += [Job.result_ref.contains(f"/{attachment}/") for attachment in attachments]
    where = [
        Job.deliver_platform == platform,
        Job.status == JobStatus.SUCCEEDED.value,
        Job.kind != JobKind.ANALYZE.value,
        or_(*named),
    ]
    if platform == "telegram":  # a Telegram message id is only unique within its chat
        where.append(Job.deliver_chat == chat)
    job: Job | None = await session.scalar(
        select(Job).where(*where).order_by(Job.finished_at.desc()).limit(1)
    )
    return job


async def create(
    session: AsyncSession, job: Job, reporter_id: int, reason: str | None, *, now: datetime | None = None
) -> Report | None:
    """A new open report, or None when this reporter has reported this job already."""
    values = {
        "job_id": job.id,
        "reporter_id": reporter_id,
        "owner_id": job.user_id,
        "reason": reason[:500] if reason else None,
        "status": ReportStatus.OPEN.value,
        "created_at": now or utcnow(),
    }
    report_id = await session.scalar(
        insert_ignore(session, Report, values, ["job_id", "reporter_id"]).returning(Report.id)
    )
    return None if report_id is None else await session.get(Report, report_id)


async def get(session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id, populate_existing=True)


async def recent_open(session: AsyncSession, limit: int = 10) -> list[Report]:
    rows = await session.scalars(
        select(Report)
        .where(Report.status == ReportStatus.OPEN.value)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    )
    return list(rows)


async def decide(
    session: AsyncSession, report_id: int, status: ReportStatus, admin: str, *, now: datetime | None = None
) -> Report | None:
    """open -> ``status``, by ``admin``; None when the report is gone or decided already (one press
    of two, or a second admin, changes nothing)."""
    report: Report | None = await session.scalar(
        update(Report)
        .where(Report.id == report_id, Report.status == ReportStatus.OPEN.value)
        .values(status=status.value, decided_at=now or utcnow(), decided_by=admin)
        .returning(Report)
        .execution_options(populate_existing=True)
    )
    return report


async def confirmed_against(session: AsyncSession, owner_id: int) -> int:
    """Confirmed reports against ``owner_id``, counted with the owner's row locked (Postgres), so two
    confirmations at once cannot both count below the ban threshold."""
    await session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    return await confirmed_count(session, owner_id)


async def confirmed_count(session: AsyncSession, owner_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.owner_id == owner_id, Report.status == ReportStatus.CONFIRMED.value)
    )
    return int(count or 0)


@dataclass(frozen=True, slots=True)
class ReportCounts:
    since: int  # reports made since the cut-off
    open: int  # waiting for an admin now
    confirmed_since: int  # confirmed since the cut-off


async def counts(session: AsyncSession, since: datetime) -> ReportCounts:
    made = await session.scalar(select(func.count()).select_from(Report).where(Report.created_at >= since))
    waiting = await session.scalar(
        select(func.count()).select_from(Report).where(Report.status == ReportStatus.OPEN.value)
    )
    confirmed = await session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.status == ReportStatus.CONFIRMED.value, Report.decided_at >= since)
    )
    return ReportCounts(int(made or 0), int(waiting or 0), int(confirmed or 0))
