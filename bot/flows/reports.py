"""Reports of results: a person reports a delivered result (by the message that carried it); the admins
are told; an admin confirms, dismisses or bans from /reports. A confirmed report counts against the
job's owner, and ``BotConfig.report_ban_threshold`` of them ban the owner automatically (admins are
never banned). A person reports a job once; a report is decided once (a second press or a second
admin changes nothing). Who is an admin is the caller's check, as in bot/flows/admin.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.people import translator
from bot.services import Services
from db import reports as db_reports
from db import users as db_users
from db.models import ReportStatus, User
from jobs.metrics import REPORTS

LIST_LIMIT = 5  # reports per /reports answer (Discord: three buttons each, five rows at most)


@dataclass(frozen=True, slots=True)
class Made:
    """What reporting said: ``code`` for the reporter, and the report (None when refused)."""

    code: str
    report_id: int | None = None
    job_id: str | None = None
    owner: str | None = None  # "@<user number>"
    reason: str | None = None  # as recorded (stripped; None when none was given)

    @property
    def made(self) -> bool:
        return self.report_id is not None


async def report(
    services: Services,
    reporter: User,
    chat: str,
    message: str,
    reason: str | None,
    attachments: tuple[str, ...] = (),
) -> Made:
    """Report the result that message ``message`` in ``chat`` carried (on the reporter's platform)."""
    async with services.db.transaction() as session:
        job = await db_reports.find_result_job(session, reporter.platform, chat, message, attachments)
        if job is None:
            return Made("report_not_a_result")
        reason = (reason or "").strip() or None
        made = await db_reports.create(session, job, reporter.id, reason)
        if made is None:
            return Made("report_duplicate")
    REPORTS.labels(platform=reporter.platform).inc()
    return Made("report_done", made.id, job.id, f"@{job.user_id}", reason)


async def admin_notices(services: Services, platform: str, made: Made) -> list[tuple[str, str]]:
    """The notice of report ``made`` for each configured admin on ``platform``, in their language (from
    their row when known): (external id, text). Sending is the platform's (best effort)."""
    notices = []
    async with services.db.session() as session:
        for admin_platform, external_id in sorted(services.config.admins):
            if admin_platform != platform:
                continue
            row = await db_users.find(session, platform, external_id)
            t = translator(services, row.language if row is not None else None)
            text = t(
                "report_admin_notice",
                id=made.report_id,
                job=made.job_id,
                owner=made.owner,
                reason=made.reason or t("report_no_reason"),
            )
            notices.append((external_id, text))
    return notices


@dataclass(frozen=True, slots=True)
class Listed:
    id: int
    job_id: str | None
    owner: str  # "@<user number>", or "-" when the owner is gone (/forget)
    reporter: str
    reason: str | None
    created_at: datetime
    confirmed: int  # confirmed reports against the owner so far


async def open_reports(services: Services, limit: int = LIST_LIMIT) -> list[Listed]:
    async with services.db.session() as session:
        rows = await db_reports.recent_open(session, limit)
        listed = []
        for row in rows:
            confirmed = await db_reports.confirmed_count(session, row.owner_id) if row.owner_id else 0
            listed.append(
                Listed(
                    row.id,
                    row.job_id,
                    f"@{row.owner_id}" if row.owner_id else "-",
                    f"@{row.reporter_id}" if row.reporter_id else "-",
                    row.reason,
                    row.created_at,
                    confirmed,
                )
            )
    return listed


class Action(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    BAN = "ban"  # confirm, and ban the owner now whatever the count


@dataclass(frozen=True, slots=True)
class Decided:
    code: str  # report_confirmed, report_confirmed_banned, report_dismissed, report_banned, report_decided
    report_id: int
    who: str = "-"
    count: int = 0
    threshold: int = 0


async def decide(services: Services, report_id: int, action: Action, admin: str) -> Decided:
    """An admin's decision on an open report; ``admin`` is "platform:id" (kept on the report)."""
    status = ReportStatus.DISMISSED if action is Action.DISMISS else ReportStatus.CONFIRMED
    threshold = services.config.report_ban_threshold
    async with services.db.transaction() as session:
        decided = await db_reports.decide(session, report_id, status, admin)
        if decided is None:
            return Decided("report_decided", report_id)
        owner_id = decided.owner_id
        if status is ReportStatus.DISMISSED or owner_id is None:
            return Decided(
                "report_dismissed" if status is ReportStatus.DISMISSED else "report_confirmed", report_id
            )
        count = await db_reports.confirmed_against(session, owner_id)
        who = f"@{owner_id}"
        if action is not Action.BAN and count < threshold:
            return Decided("report_confirmed", report_id, who, count, threshold)
        owner = await db_users.get(session, owner_id)
        if services.config.is_admin(owner.platform, owner.external_id):
            return Decided("report_confirmed", report_id, who, count, threshold)
        if not owner.is_banned:
            await db_users.update_profile(session, owner_id, is_banned=True)
    code = "report_banned" if action is Action.BAN else "report_confirmed_banned"
    return Decided(code, report_id, who, count, threshold)
