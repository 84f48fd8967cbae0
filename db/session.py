"""Engine and session factory for Postgres (asyncpg) and SQLite (aiosqlite).

On SQLite every transaction starts with ``BEGIN IMMEDIATE``: it takes the single write lock up front
(waiting up to the busy timeout), so a transaction that reads and then writes can never fail with
"database is locked" half-way, and read-check-write sequences (debits, face limits) are serialised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///./swapbot.db"
SQLITE_BUSY_TIMEOUT_S = 30.0


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str | URL = DEFAULT_URL, *, pool_size: int = 10, max_overflow: int = 10, **kwargs: Any
) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if "poolclass" not in kwargs:
            kwargs |= {"pool_size": pool_size, "max_overflow": max_overflow}
            # One round trip per checkout buys surviving Postgres restarts and dropped idle connections.
            kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(parsed, **kwargs)
    # SQLite: the driver's own pool choice (a queue pool for files, one shared connection in memory).
    engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver; _on_begin emits our own BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")  # quicker commits; other processes read meanwhile
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: repositories hand them to callers that outlive the session.
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """One engine and its session factory, built once at start-up and passed down."""

    def __init__(self, url: str | URL = DEFAULT_URL, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self.sessions = create_sessionmaker(self.engine)

    def session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        async with self.sessions.begin() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
