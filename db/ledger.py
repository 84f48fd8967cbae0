"""The credit ledger: every balance change is one append-only row with a unique idempotency key.

``post`` changes the user's cached balance and appends the row in one savepoint. The balance moves
with ``UPDATE users SET balance = balance + :delta WHERE id = :id AND balance + :delta >= 0
RETURNING balance`` (the row lock serialises writers of one user; the CHECK constraint backs it up).
A key that exists changes nothing and returns the first row: the ``INSERT ... ON CONFLICT DO NOTHING``
inserts nothing, the balance change is rolled back to the savepoint and the first row is read back.
When two transactions race on a new key, the loser's insert waits for the winner to commit first.

Runs under Postgres' default READ COMMITTED: each statement sees rows committed before it started,
which is what the re-reads after a lost race rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from db.base import utcnow
from db.errors import InsufficientCredits, UserNotFound
from db.models import LedgerEntry, Reason, User
from db.sql import insert_ignore_into


@dataclass(frozen=True, slots=True)
class Posting:
    """The outcome of ``post``: the ledger row, and whether it already existed (``replayed``)."""

    entry_id: int
    user_id: int | None  # None once the user used /forget
    delta: int
    reason: Reason
    key: str
    balance_after: int
    created_at: datetime
    replayed: bool


# Core tables rather than ORM-enabled statements on the hot path: half the Python work per debit,
# and the one loaded User this could leave stale is refreshed by _sync_cached_user.
# (Declarative typing says FromClause; a mapped class's __table__ is always a Table.)
_USERS = cast(Table, User.__table__)
_LEDGER = cast(Table, LedgerEntry.__table__)
# The balance moves by :delta unless it would go below zero; built once (building costs more than running).
_MOVE = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("mover"), _USERS.c.balance + bindparam("delta") >= 0)
    .values(balance=_USERS.c.balance + bindparam("delta"))
    .returning(_USERS.c.balance)
)


class _NotApplied(Exception):
    pass


class _KeyTaken(Exception):
    pass


async def post(
    session: AsyncSession,
    *,
    user_id: int,
    delta: int,
    reason: Reason | str,
    key: str,
    now: datetime | None = None,
) -> Posting:
    """Apply ``delta`` credits to the user exactly once per ``key``.

    Raises ``InsufficientCredits`` when the balance would go below zero, ``UserNotFound`` when the user
    does not exist; a repeated ``key`` (even for another user or amount) returns the first row.
    """
    if delta == 0:
        raise ValueError("a ledger row moves credits: delta must not be 0")
    reason = Reason(reason)
    if not key:
        raise ValueError("an idempotency key is required")
    # No lookup first: a new key (the common case) costs one UPDATE and one INSERT; a replay is found
    # by the INSERT's conflict (or, when the balance no longer allows it, by the lookup below).
    now = now or utcnow()
    try:
        async with session.begin_nested():
            balance = await session.scalar(_MOVE, {"mover": user_id, "delta": delta})
            if balance is None:
                raise _NotApplied
            values = {
                "user_id": user_id,
                "delta": delta,
                "reason": reason.value,
                "key": key,
                "balance_after": balance,
                "created_at": now,
            }
            entry_id = await session.scalar(
                insert_ignore_into(session, _LEDGER, ["key"], _LEDGER.c.id), values
            )
            if entry_id is None:
                raise _KeyTaken  # leaving the block rolls the balance change back (and frees the row)
    except _KeyTaken:
        return await _winner(session, key)
    except _NotApplied:
        # Waiting for this user's row lock may have been waiting for a winner with the same key.
        winner = await find(session, key)
        if winner is not None:
            return to_posting(winner, replayed=True)
        current = await session.scalar(select(User.balance).where(User.id == user_id))
        if current is None:
            raise UserNotFound(user_id) from None
        raise InsufficientCredits(user_id, current, -delta) from None
    _sync_cached_user(session, user_id, balance)
    return Posting(entry_id, user_id, delta, reason, key, balance, now, replayed=False)


async def find(session: AsyncSession, key: str) -> LedgerEntry | None:
    return await session.scalar(
        select(LedgerEntry).where(LedgerEntry.key == key).execution_options(populate_existing=True)
    )


async def balance(session: AsyncSession, user_id: int) -> int:
    value = await session.scalar(select(User.balance).where(User.id == user_id))
    if value is None:
        raise UserNotFound(user_id)
    return value


async def history(session: AsyncSession, user_id: int, *, limit: int = 50) -> list[LedgerEntry]:
    """The user's latest rows, newest first."""
    rows = await session.scalars(
        select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id.desc()).limit(limit)
    )
    return list(rows)


async def _winner(session: AsyncSession, key: str) -> Posting:
    winner = await find(session, key)
    if winner is None:  # the conflicting insert is committed before ON CONFLICT gives up
        raise RuntimeError(f"ledger key {key!r} conflicted but cannot be read back")
    return to_posting(winner, replayed=True)


def to_posting(entry: LedgerEntry, *, replayed: bool) -> Posting:
    return Posting(
        entry.id,
        entry.user_id,
        entry.delta,
        Reason(entry.reason),
        entry.key,
        entry.balance_after,
        entry.created_at,
        replayed,
    )


def _sync_cached_user(session: AsyncSession, user_id: int, balance: int) -> None:
    # A User already loaded in this session would otherwise keep showing the old balance.
    user = session.identity_map.get(identity_key(User, user_id))
    if user is not None:
        set_committed_value(user, "balance", balance)
