"""Admin commands: /stats, /grant, /ban, /unban. Who is an admin is the router's check
(``services.config.is_admin``); these functions trust their caller.

A person is named as ``platform:id`` (``telegram:123``), as ``@<user number>`` (our own id, as
/stats and support see it), or as a bare platform id on the admin's own platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import Translate, reset_ban_notice
from bot.services import Services
from db import ledger
from db import stats as db_stats
from db import users as db_users
from db.base import utcnow
from db.errors import UserNotFound
from db.models import Platform, Reason, User

MAX_GRANT = 1_000_000  # a typo guard: more than this in one command is surely a mistake


async def stats(services: Services, now: datetime | None = None) -> db_stats.Stats:
    """Today (since 00:00 UTC): jobs by outcome and Stars taken; in all: users and the queue."""
    midnight = datetime.combine((now or utcnow()).astimezone(UTC).date(), time(), tzinfo=UTC)
    async with services.db.session() as session:
        return await db_stats.collect(session, midnight)


def stats_text(figures: db_stats.Stats, t: Translate) -> str:
    """/stats as the admin reads it, the same on every platform: users, today's jobs by outcome, the
    queue and Stars, then the content guard's refusals and the reports."""
    jobs = ", ".join(
        t("stats_jobs_item", status=t(f"status_{status}"), count=count)
        for status, count in sorted(figures.jobs_since.items())
    )
    overview = t(
        "stats",
        users=figures.users,
        banned=figures.banned,
        jobs=jobs or t("stats_no_jobs"),
        queued=figures.queued,
        running=figures.running,
        stars_today=figures.stars_since,
        stars_total=figures.stars_total,
    )
    safety = t(
        "stats_safety",
        blocked=figures.blocked_since,
        reports_today=figures.reports.since,
        reports_open=figures.reports.open,
        reports_confirmed=figures.reports.confirmed_since,
    )
    return f"{overview}\n{safety}"


class BadTarget(ValueError):
    """The text does not name a person: the router answers with the command's usage."""


def parse_target(text: str, own_platform: str) -> tuple[str, str] | int:
    """``(platform, external id)`` or our user number (``@17``)."""
    text = text.strip()
    if text.startswith("@") and text[1:].isdecimal():
        return int(text[1:])
    platform, sep, external = text.rpartition(":")
    if not sep:
        platform, external = own_platform, text
    if platform not in {p.value for p in Platform} or not external.isdecimal():
        raise BadTarget(text)
    return platform, external


async def _find(session: AsyncSession, target: tuple[str, str] | int) -> User | None:
    if isinstance(target, int):
        try:
            return await db_users.get(session, target)
        except UserNotFound:
            return None
    return await db_users.find(session, *target)


def describe(target: tuple[str, str] | int) -> str:
    return f"@{target}" if isinstance(target, int) else f"{target[0]}:{target[1]}"


class Outcome(StrEnum):
    DONE = "done"
    ALREADY = "already"  # the same command message again (a duplicated update): nothing changed
    NO_USER = "admin_no_user"
    IS_ADMIN = "admin_cannot_ban_admin"


@dataclass(frozen=True, slots=True)
class Granted:
    outcome: Outcome
    who: str
    balance: int = 0


async def grant(
    services: Services, target: tuple[str, str] | int, credits: int, *, command_key: str
) -> Granted:
    """Give ``credits`` once per ``command_key`` (the command message's identity: a duplicated
    update, or the same message handled twice, grants once)."""
    if not 0 < credits <= MAX_GRANT:
        raise ValueError(f"credits must be from 1 to {MAX_GRANT}")
    who = describe(target)
    async with services.db.transaction() as session:
        user = await _find(session, target)
        if user is None:
            return Granted(Outcome.NO_USER, who)
        posting = await ledger.post(
            session, user_id=user.id, delta=credits, reason=Reason.ADMIN, key=f"admin:grant:{command_key}"
        )
        current = await ledger.balance(session, user.id)
    return Granted(Outcome.ALREADY if posting.replayed else Outcome.DONE, who, current)


async def set_banned(services: Services, target: tuple[str, str] | int, banned: bool) -> Outcome:
    """Ban or unban; an admin (from the settings) cannot be banned, so nobody locks the admins out."""
    async with services.db.transaction() as session:
        user = await _find(session, target)
        if user is None:
            return Outcome.NO_USER
        if banned and services.config.is_admin(user.platform, user.external_id):
            return Outcome.IS_ADMIN
        if user.is_banned == banned:
            return Outcome.ALREADY
        await db_users.update_profile(session, user.id, is_banned=banned)
    if not banned:
        await reset_ban_notice(services, user.id)  # banned again later, they are told again
    return Outcome.DONE
