"""Ledger debits per second on Postgres with 1, 10 and 50 concurrent users, plus one hot row.

Each user (a task with its own connection) posts a stream of debits of 1 on its own balance through
``db.ledger.post`` (pre-check, savepoint, conditional UPDATE ... RETURNING, INSERT ... ON CONFLICT), one
transaction per debit; "hot row" runs 50 tasks on one shared user. The reference is the bare minimum
in the same process: the same UPDATE and INSERT in one asyncpg transaction, no SQLAlchemy, no savepoint.
Creates its own database on the server and drops it at the end. Prints medians over rounds.

    .venv/bin/python -m bench.credit_ledger [--server postgresql://postgres@localhost:5432] [--seconds 2]
        [--rounds 5] [--quick]

``--quick`` (run by ``make test``): one round of 0.2 s per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bench.quiet import quiet_logs
from db import ledger
from db.migrate import upgrade_engine
from db.models import Reason
from db.session import Database
from db.users import get_or_create

START_BALANCE = 10**9
SCENARIOS = [("1 user", 1, 1), ("10 users", 10, 10), ("50 users", 50, 50), ("hot row: 50 on 1 user", 1, 50)]
_keys = itertools.count()

Debit = Callable[[int], Awaitable[None]]


async def _users(db: Database, count: int) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for _ in range(count):
            user, _ = await get_or_create(session, "telegram", secrets.token_hex(8))
            await ledger.post(
                session,
                user_id=user.id,
                delta=START_BALANCE,
                reason=Reason.ADMIN,
                key=f"bench:seed:{user.id}",
            )
            ids.append(user.id)
    return ids


def _orm_debit(db: Database) -> Debit:
    async def debit(user_id: int) -> None:
        async with db.transaction() as session:
            await ledger.post(
                session, user_id=user_id, delta=-1, reason=Reason.JOB, key=f"bench:{next(_keys)}"
            )

    return debit


def _raw_debit(pool: asyncpg.Pool) -> Debit:
    async def debit(user_id: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            balance = await conn.fetchval(
                "UPDATE users SET balance = balance - 1 WHERE id = $1 AND balance - 1 >= 0 RETURNING balance",
                user_id,
            )
            await conn.execute(
                "INSERT INTO ledger (user_id, delta, reason, key, balance_after, created_at) "
                "VALUES ($1, -1, 'job', $2, $3, now()) ON CONFLICT (key) DO NOTHING",
                user_id,
                f"raw:{next(_keys)}",
                balance,
            )

    return debit


async def _round(debit: Debit, user_ids: list[int], tasks: int, seconds: float) -> tuple[float, ...]:
    """Debits per second over ``seconds``, the median latency of one debit and this process's CPU time
    per debit (both in milliseconds): CPU near 1000 / rate means the client, not Postgres, is the limit."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def stream(user_id: int) -> None:
        while (start := time.perf_counter()) < deadline:
            await debit(user_id)
            latencies.append(time.perf_counter() - start)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(stream(user_ids[i % len(user_ids)]) for i in range(tasks)))
    cpu_ms = (time.process_time() - cpu) * 1000 / len(latencies)
    return len(latencies) / (time.perf_counter() - began), statistics.median(latencies) * 1000, cpu_ms


async def _scenario(
    debit: Debit, user_ids: list[int], tasks: int, seconds: float, rounds: int
) -> list[float]:
    await _round(debit, user_ids, tasks, min(seconds, 0.5))  # warm the pool and the caches
    results = [await _round(debit, user_ids, tasks, seconds) for _ in range(rounds)]
    return [statistics.median(column) for column in zip(*results, strict=True)]


async def main(server: str, seconds: float, rounds: int) -> None:
    name = f"swapbot_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    # The server allows 100 clients: the two pools never hold their 50 connections at the same time.
    db = Database(url, pool_size=50, max_overflow=0)
    try:
        await upgrade_engine(db.engine)
        version = await admin.fetchval("SHOW server_version")
        print(f"Postgres {version}, {os.cpu_count()} CPUs; {rounds} rounds of {seconds:g} s; medians")
        print(f"{'scenario':<24}{'debits/s':>10}{'p50 ms':>9}{'CPU ms':>8}{'raw asyncpg/s':>15}{'ratio':>7}")
        for label, users, tasks in SCENARIOS:
            user_ids = await _users(db, users)
            rate, latency, cpu = await _scenario(_orm_debit(db), user_ids, tasks, seconds, rounds)
            await db.engine.dispose()  # closes its idle connections; it reconnects when next used
            async with asyncpg.create_pool(f"{server}/{name}", min_size=0, max_size=tasks) as pool:
                raw_rate, _, _ = await _scenario(_raw_debit(pool), user_ids, tasks, seconds, rounds)
            print(
                f"{label:<24}{rate:>10.0f}{latency:>9.2f}{cpu:>8.2f}{raw_rate:>15.0f}{rate / raw_rate:>7.2f}"
            )
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@localhost:5432")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of 0.2 s per scenario")
    args = parser.parse_args()
    quiet_logs()
    if args.quick:
        args.seconds, args.rounds = 0.2, 1
    asyncio.run(main(args.server, args.seconds, args.rounds))
