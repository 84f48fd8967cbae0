"""The dialect-specific statements the repositories need: INSERT ... ON CONFLICT DO NOTHING, and a lock
on a key that names no row yet."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable, Sequence
from typing import Any, cast

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
    return insert_ignore_into(session, target, conflict).values(**values)


def insert_ignore_into(
    session: AsyncSession, target: type[Any] | Table, conflict: Sequence[str], *returning: Any
) -> Any:
    """``insert_ignore`` without its values, which are given when it runs (``session.scalar(statement,
    values)``), optionally ``RETURNING`` ``returning``: built once per database and shape, since building
    an INSERT (and its cache key) costs more CPU than SQLite takes to run it. For the hot paths: a
    first contact's user row and grant, every ledger row."""
    dialect = session.get_bind().dialect.name
    if dialect not in _DIALECTS:
        raise ValueError(f"unsupported database {dialect!r}: swapbot runs on Postgres or SQLite")
    return _built(dialect, cast(Hashable, target), tuple(conflict), returning)


def insert_ignore_loading(session: AsyncSession, model: type[Any], conflict: Sequence[str]) -> Any:
    """``insert_ignore_into`` ``model`` that returns the new row as a ``model`` loaded into the session
    (None when ``conflict`` was taken); built once per database and model."""
    return _loading(cast(Hashable, model), insert_ignore_into(session, model, conflict, model))


@functools.cache
def _loading(model: Any, insert: Any) -> Any:
    return select(model).from_statement(insert).execution_options(populate_existing=True)


@functools.cache
def _built(dialect: str, target: Any, conflict: tuple[str, ...], returning: tuple[Any, ...]) -> Any:
    statement = _DIALECTS[dialect].insert(target).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(*returning) if returning else statement


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
