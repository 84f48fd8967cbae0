"""The migrated schema equals the models, and upgrade -> downgrade -> upgrade works, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.migrate import downgrade, downgrade_engine, upgrade, upgrade_engine
from db.models import Base
from db.session import create_engine
from tests.db.conftest import create_pg_database, drop_pg_database, pg_url

TABLES = {
    "users",
    "identities",
    "identity_embeddings",
    "ledger",
    "payments",
    "jobs",
    "free_grants",
    "analysed_faces",
    "analysed_face_embeddings",
    "stripe_events",
    "reports",
}
ANALYSED = {"analysed_faces", "analysed_face_embeddings"}
LATER = {"stripe_events", "reports"}  # tables of revisions after 0003


@pytest.fixture(params=["postgres", "sqlite"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    name = await create_pg_database("swapbot_migrate")
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def empty_engine(empty_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_url, pool_size=2)
    yield engine
    await engine.dispose()


def _diff(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _state(engine: AsyncEngine) -> tuple[set[str], list]:
    async with engine.connect() as connection:
        tables = await connection.run_sync(_tables)
        diff = await connection.run_sync(_diff) if tables >= TABLES else []
    return tables, diff


async def test_migrated_schema_equals_models_and_round_trips(
    empty_url: str, empty_engine: AsyncEngine
) -> None:
    # The command-line entry point first (it runs its own event loop, hence the thread) ...
    await asyncio.to_thread(upgrade, empty_url)
    tables, diff = await _state(empty_engine)
    assert tables >= TABLES
    assert diff == []

    await asyncio.to_thread(downgrade, empty_url)
    tables, _ = await _state(empty_engine)
    assert tables & TABLES == set()

    # ... then the in-loop variant on an existing engine, down and up again.
    await upgrade_engine(empty_engine)
    await downgrade_engine(empty_engine)
    assert (await _state(empty_engine))[0] & TABLES == set()
    await upgrade_engine(empty_engine)
    tables, diff = await _state(empty_engine)
    assert tables >= TABLES
    assert diff == []


async def test_each_revision_downgrades_on_its_own(empty_engine: AsyncEngine) -> None:
    """0003 down takes only the analysed faces away, 0002 down only the free-grant memory; up again,
    the schema equals the models."""
    await upgrade_engine(empty_engine)
    await downgrade_engine(empty_engine, "0006")
    assert (await _state(empty_engine))[0] & TABLES == TABLES - {"reports"}
    await downgrade_engine(empty_engine, "0005")
    assert (await _state(empty_engine))[0] & TABLES == TABLES - {"stripe_events", "reports"}
    await downgrade_engine(empty_engine, "0002")
    assert (await _state(empty_engine))[0] & TABLES == TABLES - ANALYSED - LATER
    await downgrade_engine(empty_engine, "0001")
    assert (await _state(empty_engine))[0] & TABLES == TABLES - ANALYSED - LATER - {"free_grants"}
    await upgrade_engine(empty_engine, "0002")
    assert (await _state(empty_engine))[0] & TABLES == TABLES - ANALYSED - LATER
    await upgrade_engine(empty_engine)  # the later revisions too: the models are the head's schema
    tables, diff = await _state(empty_engine)
    assert tables >= TABLES
    assert diff == []


async def test_compare_detects_a_schema_that_differs(empty_engine: AsyncEngine) -> None:
    """Guards the test above: a database missing an index must show up as a difference."""
    await upgrade_engine(empty_engine)
    async with empty_engine.begin() as connection:
        await connection.exec_driver_sql("DROP INDEX ix_jobs_created_at")
    _, diff = await _state(empty_engine)
    assert [d[0] for d in diff] == ["add_index"]


async def test_0010_lets_a_job_wait_for_its_choice_and_its_downgrade_ends_it(
    empty_engine: AsyncEngine,
) -> None:
    """A status CHECK rebuilt (SQLite copies the table): before 0010 the database refuses
    ``needs_choice``; after it, takes it; down again, such a job (refunded already) ends as cancelled."""
    insert = (
        "INSERT INTO users (id, platform, external_id, created_at, last_seen_at) "
        "VALUES (1, 'telegram', '1', '2026-01-01', '2026-01-01')"
    )
    job = (
        "INSERT INTO jobs (id, user_id, kind, status, cost, attempts, created_at, updated_at, queued_at) "
        "VALUES ('swap:{n}', 1, 'swap', '{status}', 1, 1, '2026-01-01', '2026-01-01', '2026-01-01')"
    )
    await upgrade_engine(empty_engine, "0009")
    async with empty_engine.begin() as connection:
        await connection.exec_driver_sql(insert)
        await connection.exec_driver_sql(job.format(n=0, status="succeeded"))  # the row itself is fine
    with pytest.raises(IntegrityError, match="ck_jobs_status"):
        async with empty_engine.begin() as connection:
            await connection.exec_driver_sql(job.format(n=1, status="needs_choice"))
    await upgrade_engine(empty_engine)
    async with empty_engine.begin() as connection:
        await connection.exec_driver_sql(job.format(n=2, status="needs_choice"))
    await downgrade_engine(empty_engine, "0009")
    async with empty_engine.connect() as connection:
        rows = (await connection.exec_driver_sql("SELECT id, status FROM jobs ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [("swap:0", "succeeded"), ("swap:2", "cancelled")]
