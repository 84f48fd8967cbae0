"""What of ARQ and discord.py we reach past their documented API, pinned to the versions in uv.lock.

jobs/arq_worker.py overrides and reads private parts of ARQ's worker. This pins them: the installed
arq is the version uv.lock names, and every private member the adapter uses is still there, in the
form it relies on. An arq upgrade that changes one fails here (then read arq's changes and adapt
WakeableWorker), not in a worker at 3 a.m."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

from arq.worker import Worker

from jobs.arq_worker import ARQ_PRIVATES, WakeableWorker

ROOT = Path(__file__).resolve().parents[2]


def locked_version(package: str) -> str:
    lock = (ROOT / "uv.lock").read_text()
    found = re.search(rf'\[\[package\]\]\nname = "{package}"\nversion = "([^"]+)"', lock)
    assert found is not None, f"{package} is not in uv.lock"
    return found.group(1)


def test_the_installed_arq_is_the_locked_one() -> None:
    assert version("arq") == locked_version("arq") == "0.28.0"


def test_every_private_member_the_adapter_uses_is_as_it_relies_on() -> None:
    assert set(ARQ_PRIVATES) == {
        "_poll_iteration",
        "_release_sem_dec_counter_on_complete",
        "_jobs_started",
        "_job_completion_wait",
        "handle_sig_wait_for_completion",
    }
    assert inspect.iscoroutinefunction(Worker._poll_iteration)
    assert list(inspect.signature(Worker._poll_iteration).parameters) == ["self"]
    assert not inspect.iscoroutinefunction(Worker._release_sem_dec_counter_on_complete)
    assert list(inspect.signature(Worker._release_sem_dec_counter_on_complete).parameters) == ["self"]
    assert list(inspect.signature(Worker._jobs_started).parameters) == ["self"]
    assert list(inspect.signature(Worker.handle_sig_wait_for_completion).parameters) == ["self", "signum"]
    # set in __init__, read by the adapter's shutdown line
    assert "self._job_completion_wait = job_completion_wait" in inspect.getsource(Worker.__init__)
    # the adapter's overrides are the ones it says it makes
    overridden = {name for name in vars(WakeableWorker) if name in ARQ_PRIVATES}
    assert overridden == {
        "_poll_iteration",
        "_release_sem_dec_counter_on_complete",
        "handle_sig_wait_for_completion",
    }


def test_discord_py_still_takes_its_addresses_from_the_class_attributes_we_set() -> None:
    """jobs/platforms/discord.py moves discord.py's REST base and gateway (a proxy, the tests' fake) by
    setting two class attributes: pinned to the locked discord.py, which builds every URL from them."""
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    from jobs.platforms.discord import DISCORD_PATCHED

    assert version("discord.py") == locked_version("discord-py")
    assert DISCORD_PATCHED == ("discord.http.Route.BASE", "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY")
    base = Route.BASE
    try:
        Route.BASE = "http://127.0.0.1:9/api/v10"
        assert Route("GET", "/users/@me").url == "http://127.0.0.1:9/api/v10/users/@me"
    finally:
        Route.BASE = base
    assert "DEFAULT_GATEWAY" in vars(DiscordWebSocket)


def test_sqlalchemy_and_aiosqlite_still_have_what_the_one_hop_cursor_replaces() -> None:
    """db/sqlite_cursor.py runs each SQLite statement in one call to aiosqlite's thread by standing in
    for SQLAlchemy's aiosqlite cursor: pinned to the locked versions and the private parts it uses."""
    import aiosqlite
    from sqlalchemy.dialects.sqlite.aiosqlite import (
        AsyncAdapt_aiosqlite_connection,
        AsyncAdapt_aiosqlite_cursor,
    )

    assert version("sqlalchemy") == locked_version("sqlalchemy")
    assert version("aiosqlite") == locked_version("aiosqlite")
    assert hasattr(AsyncAdapt_aiosqlite_connection, "_cursor_cls")
    for name in ("_execute_async", "_executemany_async", "_async_soft_close"):
        assert inspect.iscoroutinefunction(getattr(AsyncAdapt_aiosqlite_cursor, name)), name
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert "self._conn" in inspect.getsource(aiosqlite.Connection)


async def test_a_sqlite_statement_is_one_call_into_aiosqlites_thread(tmp_path: Path) -> None:
    """What the one-hop cursor is for, counted at aiosqlite's door: each statement (and its rows,
    rowcount, last row id) in one call, not four."""
    import aiosqlite
    from sqlalchemy import text

    from db.session import READ_ONLY, create_engine

    calls = 0
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(self, fn, *args, **kwargs)

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))  # the transaction's BEGIN is one call too
                before = calls
                inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
                assert (inserted.rowcount, calls - before) == (2, 1)
                before = calls
                rows = (await connection.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
                assert ([tuple(row) for row in rows], calls - before) == ([(1, "a"), (2, "b")], 1)
                await connection.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "c"}, {"n": "d"}])
                assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 4
                before = calls
                await connection.rollback()  # our BEGIN IMMEDIATE is open: rolled back, in one call
                assert calls - before == 1
            async with engine.connect() as connection:  # ...and the four rows went with it
                assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            async with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
                await connection.execute(text("SELECT 1"))  # Database.read's autocommit: nothing opened
                before = calls
                await connection.rollback()
                assert calls - before == 0  # nothing to roll back: no call
        finally:
            aiosqlite.Connection._execute = real  # type: ignore[method-assign]
    finally:
        await engine.dispose()
