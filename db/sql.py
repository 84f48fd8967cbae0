"""The one dialect-specific statement the repositories need: INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
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
