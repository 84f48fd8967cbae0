"""Users: one row per platform identity, created on first contact with the free-credit grant.

The grant is given once per platform identity, ever: ``free_grants`` keeps an HMAC of each identity
that has had it, which /forget leaves in place (it names nobody without the key).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import ledger
from db.base import utcnow
from db.errors import UserNotFound
from db.models import FreeGrant, Platform, Reason, User
from db.sql import insert_ignore_into, insert_ignore_loading

# ``last_seen_at`` is refreshed when it is older than this, not on every contact: seeing a user is then a
# read, not a row write per message (a bot's hottest path).
LAST_SEEN_EVERY = timedelta(minutes=10)

# Built once: constructing the statement costs more CPU than running it (SQLAlchemy caches its SQL).
_BY_IDENTITY = (
    select(User)
    .where(User.platform == bindparam("platform"), User.external_id == bindparam("external_id"))
    .execution_options(populate_existing=True)
)


def free_grant_key(user_id: int) -> str:
    return f"grant:free:{user_id}"


def grant_digest(secret: bytes, platform: Platform | str, external_id: str | int) -> bytes:
    """HMAC-SHA256 of ``platform:external_id``: recognises a returning identity without storing it."""
    message = f"{Platform(platform).value}:{external_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


async def get_or_create(
    session: AsyncSession,
    platform: Platform | str,
    external_id: str | int,
    *,
    display_name: str | None = None,
    language: str | None = None,
    free_credits: int = 0,
    grant_secret: bytes | None = None,
    now: datetime | None = None,
    seen_every: timedelta = LAST_SEEN_EVERY,
) -> tuple[User, bool]:
    """The user for this platform identity, and whether it was created now.

    A new user gets ``free_credits`` through the ledger (key ``grant:free:<id>``), unless this platform
    identity had them before (a user who used /forget and came back); ``grant_secret`` keys that
    memory and is required with ``free_credits``. Seeing an existing user refreshes ``last_seen_at``
    when it is ``seen_every`` old or older, and the display name when a new one is given: otherwise
    nothing is written. Safe under concurrent first messages: exactly one creates the row and decides
    the grant.
    """
    if free_credits > 0 and not grant_secret:
        raise ValueError("free credits need grant_secret: it keys the memory of who has had them")
    platform = Platform(platform)
    external_id = str(external_id)
    now = now or utcnow()
    user = await session.scalar(_BY_IDENTITY, {"platform": platform.value, "external_id": external_id})
    if user is not None:
        changes = _seen_changes(user, display_name, now, seen_every)
        if not changes:
            return user, False
        user = await _updated(session, user.id, changes)
        if user is not None:
            return user, False
        # deleted (/forget) between the read and the write: this is a first contact after all
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
    # The new row comes back whole, into the session: the grant below keeps its balance current
    # (ledger.post), so no read follows.
    created = await session.scalar(insert_ignore_loading(session, User, ["platform", "external_id"]), values)
    if created is None:  # a concurrent first message created it
        existing = await find(session, platform, external_id)
        if existing is None:
            raise RuntimeError(f"user {platform}:{external_id} conflicted but cannot be read back")
        return existing, False
    if free_credits > 0 and grant_secret:
        digest = grant_digest(grant_secret, platform, external_id)
        await _grant_once(session, created, digest, free_credits, now)
    return created, True


async def seen_unchanged(
    session: AsyncSession,
    platform: Platform | str,
    external_id: str | int,
    *,
    display_name: str | None = None,
    now: datetime | None = None,
    seen_every: timedelta = LAST_SEEN_EVERY,
) -> User | None:
    """The user, when ``get_or_create`` would write nothing for this contact (the row exists and neither
    ``last_seen_at`` nor the display name is due): one read, fit for a read-only session. None means
    call ``get_or_create`` in a transaction."""
    user = await session.scalar(
        _BY_IDENTITY, {"platform": Platform(platform).value, "external_id": str(external_id)}
    )
    if user is None or _seen_changes(user, display_name, now or utcnow(), seen_every):
        return None
    return user


def _seen_changes(
    user: User, display_name: str | None, now: datetime, seen_every: timedelta
) -> dict[str, object]:
    """What seeing ``user`` now writes: ``last_seen_at`` when due, the display name when it changed."""
    changes: dict[str, object] = {}
    if now - user.last_seen_at >= seen_every:
        changes["last_seen_at"] = now
    if display_name is not None and display_name != user.display_name:
        changes["display_name"] = display_name
    return changes


async def _grant_once(session: AsyncSession, user: User, digest: bytes, credits: int, now: datetime) -> None:
    # Only the transaction that created the user row gets here, so the identity is decided once;
    # the digest commits or rolls back together with the user row and the grant.
    first = await session.scalar(
        insert_ignore_into(session, FreeGrant, ["digest"], FreeGrant.digest), {"digest": digest}
    )
    if first is None:  # had the grant before /forget: the new row says so rather than claiming one
        await session.execute(update(User).where(User.id == user.id).values(free_credits=0))
        set_committed_value(user, "free_credits", 0)
        return
    await ledger.post(
        session, user_id=user.id, delta=credits, reason=Reason.GRANT, key=free_grant_key(user.id), now=now
    )


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
    return await _set(session, user_id, changes)


async def set_restorer(session: AsyncSession, user_id: int, restorer: str | None) -> User:
    """Store the restorer to run after this user's swaps; ``None`` turns restoration off."""
    return await _set(session, user_id, {"restorer": restorer})


async def accept_terms(
    session: AsyncSession, user_id: int, version: str, *, now: datetime | None = None
) -> User:
    """Record that the user agreed to terms ``version`` now (agreeing again refreshes the time)."""
    return await _set(session, user_id, {"terms_accepted_at": now or utcnow(), "terms_version": version})


async def _updated(session: AsyncSession, user_id: int, values: Mapping[str, object]) -> User | None:
    """The user with ``values`` written, read back in the same statement; None when there is no such user."""
    return await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(**values)
        .returning(User)
        .execution_options(populate_existing=True)
    )


async def _set(session: AsyncSession, user_id: int, values: Mapping[str, object]) -> User:
    user = await _updated(session, user_id, values)
    if user is None:
        raise UserNotFound(user_id)
    return user
