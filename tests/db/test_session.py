"""The session factory's hot-path promises: ``Database.read`` takes no SQLite write lock and runs each
Postgres statement on its own; an idle pooled Postgres connection that the server dropped is replaced
before use; ``users.seen_unchanged`` finds a user only when seeing them writes nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import db.session
from db import users
from db.base import utcnow
from db.session import Database
from tests.db.conftest import PG_SERVER, NewUser, migrated, sqlite_url


async def test_a_sqlite_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    async with migrated(sqlite_url(tmp_path)) as sqlite:
        user_id = await _user(sqlite, "Ann")
        async with sqlite.transaction() as writer:  # holds SQLite's one write lock (BEGIN IMMEDIATE)
            await writer.execute(
                text("UPDATE users SET display_name = 'Bob' WHERE id = :id"), {"id": user_id}
            )
            # A BEGIN IMMEDIATE here would wait out the 30 s busy timeout behind the writer.
            async with sqlite.read() as reader:
                name = await asyncio.wait_for(_name(reader, user_id), 10)
            assert name == "Ann"  # the last committed state
        async with sqlite.read() as reader:
            assert await _name(reader, user_id) == "Bob"


async def test_a_postgres_read_runs_each_statement_on_its_own(pg_db: Database) -> None:
    async with pg_db.read() as reader:
        first = await reader.scalar(text("SELECT now()"))
        await asyncio.sleep(0.02)
        second = await reader.scalar(text("SELECT now()"))
    assert second > first  # now() is the transaction's start: a new one per statement
    async with pg_db.transaction() as session:  # the shared pool's connections still run transactions
        first = await session.scalar(text("SELECT now()"))
        await asyncio.sleep(0.02)
        assert await session.scalar(text("SELECT now()")) == first


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Database(pg_db.url, pool_size=1, max_overflow=0)
    try:
        async with own.transaction() as session:
            backend = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        monkeypatch.setattr(db.session, "PING_IDLE_S", 0.0)  # the pooled connection counts as idle
        async with own.transaction() as session:
            assert await session.scalar(text("SELECT pg_backend_pid()")) != backend
    finally:
        await own.dispose()


async def test_seen_unchanged_only_when_nothing_is_due(db: Database, new_user: NewUser) -> None:
    user_id = await new_user()
    async with db.read() as session:
        user = await users.get(session, user_id)
        external = user.external_id
        assert (await users.seen_unchanged(session, "telegram", external, display_name="Test")) == user
        assert await users.seen_unchanged(session, "telegram", external) == user  # no name given
        assert await users.seen_unchanged(session, "telegram", external, display_name="Renamed") is None
        later = utcnow() + users.LAST_SEEN_EVERY + timedelta(seconds=1)
        assert await users.seen_unchanged(session, "telegram", external, now=later) is None
        assert await users.seen_unchanged(session, "telegram", uuid.uuid4().hex[:20]) is None
        assert await users.seen_unchanged(session, "discord", external) is None  # another platform's


async def _user(database: Database, name: str) -> int:
    async with database.transaction() as session:
        user, _ = await users.get_or_create(session, "telegram", uuid.uuid4().hex[:20], display_name=name)
        return user.id


async def _name(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(text("SELECT display_name FROM users WHERE id = :id"), {"id": user_id})
