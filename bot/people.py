"""Who is talking: the user entry flow every bot runs before anything else (platform-neutral)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.ratelimit import Verdict
from bot.services import Services
from db import users
from db.models import User

# How long "this banned user was told" is remembered: one answer, then silence for this long.
BAN_NOTICE_TTL_S = 30 * 86_400.0

Translate = Callable[..., str]


@dataclass(frozen=True, slots=True)
class Entry:
    user: User
    created: bool  # first contact: the free credits were granted now (unless this identity had them)


def language_code(raw: str | None) -> str | None:
    """A platform's language tag as we keep it: ``pt-BR`` -> ``pt``; empty -> None."""
    if not raw:
        return None
    return raw.replace("_", "-").split("-")[0].lower()[:16] or None


async def enter(
    services: Services,
    platform: str,
    external_id: str | int,
    *,
    display_name: str | None = None,
    language: str | None = None,
    maybe_new: bool = False,
) -> Entry:
    """The user for this identity, created with the free credits on first contact; the platform's
    language becomes theirs while they have none (an explicit choice in /settings is never replaced).
    ``maybe_new``: the update is what a first contact sends (Telegram's /start), so the read that
    finds a known user would most often find nobody: go straight to the write."""
    config = services.config
    language = language_code(language)
    display_name = display_name[:128] if display_name else None
    if not maybe_new:
        # Nearly every update is from someone known, seen minutes ago, with nothing to write: one
        # read, outside any transaction. The write transaction is for first contacts and due changes.
        async with services.db.read() as session:
            seen = await users.seen_unchanged(session, platform, external_id, display_name=display_name)
        if seen is not None and not (seen.language is None and language is not None):
            return Entry(seen, False)
    async with services.db.transaction() as session:
        user, created = await users.get_or_create(
            session,
            platform,
            external_id,
            display_name=display_name,
            language=language,
            free_credits=config.free_credits,
            grant_secret=config.secret_key,
        )
        if not created and user.language is None and language is not None:
            user = await users.update_profile(session, user.id, language=language)
    return Entry(user, created)


async def first_ban_notice(services: Services, user: User) -> bool:
    """True the first time a banned user is seen (they get one answer), False after (silence)."""
    return await services.once.first(_ban_notice_key(user.id), BAN_NOTICE_TTL_S)


async def reset_ban_notice(services: Services, user_id: int) -> None:
    """After an unban: a later ban is told once again."""
    await services.once.forget(_ban_notice_key(user_id))


def _ban_notice_key(user_id: int) -> str:
    return f"banned:{user_id}"


def translator(services: Services, language: str | None) -> Translate:
    """``t(code, **params) -> str`` in ``language`` (the handlers' ``t``)."""
    text: Callable[..., str] = services.texts.text

    def t(code: str, **params: Any) -> str:
        return text(code, language, **params)

    return t


def limit_key(user: User) -> str:
    """The rate limiter's key for a user, e.g. ``telegram:123``."""
    return f"{user.platform}:{user.external_id}"


def refusal_of(verdict: Verdict) -> tuple[str, dict[str, int]]:
    """The polite answer (code, params) to a refused hit, for every platform: wait N seconds, or come
    back tomorrow (in N hours)."""
    if verdict.reason == "daily":
        return "daily_limit", {"hours": max(1, math.ceil(verdict.retry_after_s / 3600))}
    return wait_refusal(verdict.retry_after_s)


def wait_refusal(seconds: float) -> tuple[str, dict[str, int]]:
    """ "Wait N seconds" (at least 1), for a bucket or a command's own cooldown."""
    return "rate_limited", {"seconds": max(1, math.ceil(seconds))}


def refusal(t: Translate, verdict: Verdict) -> str:
    code, params = refusal_of(verdict)
    return t(code, **params)


def welcome_text(t: Translate, user: User, new_user: bool) -> str:
    """/start: what the bot does, the consent rule, and the credits (the free ones on first contact)."""
    credits = (
        t("start_free_credits", credits=user.free_credits, balance=user.balance)
        if new_user and user.free_credits
        else t("start_balance", balance=user.balance)
    )
    return "\n\n".join([t("start_welcome"), t("start_consent"), credits, t("start_next")])


def help_text(t: Translate, *, admin: bool = False) -> str:
    """/help: every command with an example; admins also see theirs."""
    return t("help") + ("\n\n" + t("help_admin") if admin else "")
