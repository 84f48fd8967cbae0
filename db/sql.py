"""The dialect-specific statements the repositories need: INSERT ... ON CONFLICT DO NOTHING, and a lock
on a key that names no row yet."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


def insert_ignore(
    session: AsyncSession, target: type[Any] | Table, values: dict[str, Any], conflict: Sequence[str]
) -> Any:
    """Insert ``values`` into ``target`` (a model or a table); do nothing if ``conflict`` is taken.

    Postgres waits for a concurrent uncommitted insert of the same key and then does nothing, so the
    caller can re-read the winner's row right after; SQLite serialises writers, so there is no race.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _DIALECTS:
        raise ValueError(f"unsupported database {dialect!r}: swapbot runs on Postgres or SQLite")
    return (
        _DIALECTS[dialect]
        .insert(target)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
    )


async def lock_keys(session: AsyncSession, *keys: str) -> None:
    """Hold a lock on each of ``keys`` until the transaction ends: two transactions naming one key run
    one after the other, so each sees what the other committed (nothing else need exist to lock).

    Postgres: transaction-scoped advisory locks, taken in sorted order so that two callers never wait
    on each other crosswise. SQLite: nothing to do, every transaction already holds the one write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        await session.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))


def _lock_id(key: str) -> int:
    """A stable signed 64-bit number for ``key`` (advisory locks are keyed by a bigint)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
