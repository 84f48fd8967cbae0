"""Engine and session factory for Postgres (asyncpg) and SQLite (aiosqlite).

On SQLite every transaction starts with ``BEGIN IMMEDIATE``: it takes the single write lock up front
(waiting up to the busy timeout), so a transaction that reads and then writes can never fail with
"database is locked" half-way, and read-check-write sequences (debits, face limits) are serialised.

``Database.read()`` is for reads alone, on the hot path (who is talking, for every update): no
transaction round trips on Postgres (autocommit: one statement, one round trip), no write lock on
SQLite (each statement reads a consistent snapshot of its own).

A pooled Postgres connection is pinged before use only when it sat idle for ``PING_IDLE_S`` (a server
restart or an idle timeout drops connections while the bot is quiet); SQLAlchemy's ``pool_pre_ping``
pinged on every checkout, three round trips (BEGIN, SELECT, ROLLBACK on asyncpg) before each
transaction. A connection that breaks in use invalidates the whole pool (SQLAlchemy's disconnect
handling), so a restart under load fails the statements in flight, not every later one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///./swapbot.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
PING_IDLE_S = 10.0  # a connection back from the pool after this long idle is pinged first
READ_ONLY = "swapbot_read_only"  # execution option of the engine behind ``Database.read``


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
        kwargs.setdefault("pool_recycle", 1800)  # under any server or proxy idle timeout
        engine = create_async_engine(parsed, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_when_idle(engine)
        return engine
    # SQLite: the driver's own pool choice (a queue pool for files, one shared connection in memory).
    engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    from db.sqlite_cursor import install

    install()

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
        if not connection.get_execution_options().get(READ_ONLY):  # reads run in autocommit
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection on checkout when it sat in the pool ``PING_IDLE_S`` or more (SQLAlchemy's
    "pessimistic" disconnect handling, once per idle spell rather than once per transaction)."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
            return  # new, or busy a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the driver raises, the connection is no good
            raise exc.DisconnectionError() from error  # the pool drops it and checks out another


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: repositories hand them to callers that outlive the session.
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """One engine and its session factory, built once at start-up and passed down."""

    def __init__(self, url: str | URL = DEFAULT_URL, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self.sessions = create_sessionmaker(self.engine)
        # The same pool; Postgres connections in autocommit, SQLite's without BEGIN IMMEDIATE.
        reader = self.engine.execution_options(**{READ_ONLY: True})
        if not is_sqlite(self.url):
            reader = reader.execution_options(isolation_level="AUTOCOMMIT")
        self.readers = create_sessionmaker(reader)

    def session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        async with self.sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads alone, each statement on its own (autocommit): no BEGIN and COMMIT round
        trips, no SQLite write lock. Nothing written through it is rolled back on an exception: write
        in ``transaction``. Two reads may see different moments."""
        async with self.readers() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
