"""One thread hop per SQLite statement, none for a rollback with nothing open.

aiosqlite runs every call in its connection's thread, and SQLAlchemy's aiosqlite adapter makes four
such calls for each statement (open a cursor, execute, fetch all, close), each a queue put, a thread
wake-up and a loop wake-up through its self-pipe: most of the CPU a statement costs on the embedded
set-up. ``OneHopCursor`` does the four in one call. Relies on private parts of SQLAlchemy's adapter
(2.1) and aiosqlite (``Connection._execute``, ``_conn``): ``install`` checks they are there, and
tests/jobs/test_pinned_internals.py pins both to the versions in uv.lock."""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: nothing to open
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property  # type: ignore[misc]  # fixed: fetchmany reads the rows already here
    def arraysize(self) -> int:
        return 1

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor closed in its thread already; the rows are here

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, many: bool, operation: Any, parameters: Any) -> None:
        sqlite = self._connection._conn

        def run() -> tuple[Any, list[Any], int, int | None]:
            cursor = sqlite.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                description = cursor.description
                rows = cursor.fetchall() if description else []
                return description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            description, rows, rowcount, lastrowid = await self._connection._execute(run)
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(False, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(True, operation, seq_of_parameters)

    def nextset(self) -> None:
        raise NotImplementedError("SQLite has one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


_ROLLBACK = AsyncAdapt_aiosqlite_connection.rollback


def _rollback_when_open(self: AsyncAdapt_aiosqlite_connection) -> None:
    """SQLAlchemy rolls back every connection it is done with; after an autocommit read or a committed
    transaction SQLite has nothing open, and asking its thread costs a hop. ``in_transaction`` is read
    here, on the loop, while no statement runs on the connection."""
    if self._connection._connection and not self._connection.in_transaction:
        return
    _ROLLBACK(self)


def install() -> None:
    """Every aiosqlite connection's (non server-side) cursors are ``OneHopCursor``s, and its rollbacks
    go to the thread only when a transaction is open."""
    assert hasattr(AsyncAdapt_aiosqlite_connection, "_cursor_cls")
    AsyncAdapt_aiosqlite_connection._cursor_cls = OneHopCursor
    AsyncAdapt_aiosqlite_connection.rollback = _rollback_when_open  # type: ignore[method-assign]
