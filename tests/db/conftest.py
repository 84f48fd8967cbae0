"""Database fixtures: a fresh, uniquely named Postgres database per test run, dropped at the end,
and a temporary SQLite file; ``db`` runs a test once on each. Both are built by the real migrations."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db import ledger
from db.migrate import upgrade_engine
from db.models import Reason
from db.session import Database
from db.users import get_or_create

PG_SERVER = "postgresql://postgres@localhost:5432"
# The brief's concurrency tests want many real connections at once.
PG_POOL = 50


async def create_pg_database(prefix: str = "swapbot_test") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@localhost:5432/{name}"


@asynccontextmanager
async def migrated(url: str, **engine_kwargs: Any) -> AsyncIterator[Database]:
    """A ``Database`` on ``url`` with the schema built by the real migrations."""
    db = Database(url, **engine_kwargs)
    try:
        await upgrade_engine(db.engine)
        yield db
    finally:
        await db.dispose()


@asynccontextmanager
async def fresh_postgres(prefix: str = "swapbot_test", pool: int = PG_POOL) -> AsyncIterator[Database]:
    """A new, uniquely named Postgres database, migrated, dropped afterwards."""
    name = await create_pg_database(prefix)
    try:
        async with migrated(pg_url(name), pool_size=pool, max_overflow=0) as db:
            yield db
    finally:
        await drop_pg_database(name)


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'swapbot.db'}"


@pytest.fixture(scope="session")
async def pg_db() -> AsyncIterator[Database]:
    async with fresh_postgres() as db:
        yield db


@pytest.fixture(scope="session")
async def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated(sqlite_url(tmp_path_factory.mktemp("sqlite"))) as db:
        yield db


@pytest.fixture(params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}_db")


async def make_user(db: Database, balance: int = 0, platform: str = "telegram") -> int:
    """A user with its own platform id (tests share one database) holding ``balance`` credits."""
    async with db.transaction() as session:
        user, _ = await get_or_create(session, platform, uuid.uuid4().hex[:20], display_name="Test")
        if balance:
            await ledger.post(
                session, user_id=user.id, delta=balance, reason=Reason.ADMIN, key=f"test:seed:{user.id}"
            )
        return user.id


NewUser = Callable[..., Awaitable[int]]


@pytest.fixture
def new_user(db: Database) -> NewUser:
    """``make_user`` on the backend the test runs on."""

    async def make(balance: int = 0, platform: str = "telegram") -> int:
        return await make_user(db, balance, platform)

    return make
