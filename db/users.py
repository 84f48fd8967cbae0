"""Users: one row per platform identity, created on first contact with the free-credit grant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.base import utcnow
from db.errors import UserNotFound
from db.models import Platform, Reason, User
from db.sql import insert_ignore


def free_grant_key(user_id: int) -> str:
    return f"grant:free:{user_id}"


async def get_or_create(
    session: AsyncSession,
    platform: Platform | str,
    external_id: str | int,
    *,
    display_name: str | None = None,
    language: str | None = None,
    free_credits: int = 0,
    now: datetime | None = None,
) -> tuple[User, bool]:
    """The user for this platform identity, and whether it was created now.

    A new user gets ``free_credits`` through the ledger (key ``grant:free:<id>``). Seeing an existing
    user refreshes ``last_seen_at`` and, when given, the display name. Safe under concurrent first
    messages: exactly one creates the row and the grant.
    """
    platform = Platform(platform)
    external_id = str(external_id)
    now = now or utcnow()
    changes: dict[str, object] = {"last_seen_at": now}
    if display_name is not None:
        changes["display_name"] = display_name
    user = await session.scalar(
        update(User)
        .where(User.platform == platform.value, User.external_id == external_id)
        .values(**changes)
        .returning(User)
        .execution_options(populate_existing=True)
    )
    if user is not None:
        return user, False
    values = {
        "platform": platform.value,
        "external_id": external_id,
        "display_name": display_name,
        "language": language,
        "balance": 0,
        "free_credits": free_credits,
        "is_banned": False,
        "is_admin": False,
        "created_at": now,
        "last_seen_at": now,
    }
    user_id = await session.scalar(
        insert_ignore(session, User, values, ["platform", "external_id"]).returning(User.id)
    )
    if user_id is None:  # a concurrent first message created it
        existing = await find(session, platform, external_id)
        if existing is None:
            raise RuntimeError(f"user {platform}:{external_id} conflicted but cannot be read back")
        return existing, False
    user = await get(session, user_id)
    if free_credits > 0:
        await ledger.post(
            session,
            user_id=user_id,
            delta=free_credits,
            reason=Reason.GRANT,
            key=free_grant_key(user_id),
            now=now,
        )
    return user, True


async def get(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def find(session: AsyncSession, platform: Platform | str, external_id: str | int) -> User | None:
    return await session.scalar(
        select(User)
        .where(User.platform == Platform(platform).value, User.external_id == str(external_id))
        .execution_options(populate_existing=True)
    )


async def update_profile(
    session: AsyncSession,
    user_id: int,
    *,
    language: str | None = None,
    is_banned: bool | None = None,
    is_admin: bool | None = None,
) -> User:
    """Set the given fields (``None`` leaves a field as it is)."""
    changes = {
        k: v
        for k, v in {"language": language, "is_banned": is_banned, "is_admin": is_admin}.items()
        if v is not None
    }
    if not changes:
        return await get(session, user_id)
    user = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(**changes)
        .returning(User)
        .execution_options(populate_existing=True)
    )
    if user is None:
        raise UserNotFound(user_id)
    return user
