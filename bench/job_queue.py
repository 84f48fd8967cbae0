"""Jobs per second and added latency through submit -> worker -> notifier, with an instant engine.

Each job is a real swap request (two Telegram files, a status message) submitted with ``JobClient``,
run by a worker with the square engine (a few hundred microseconds of decode/swap/encode), and
delivered with sendPhoto to a fake Telegram Bot API server in its own process; the status message
is edited to queued, working and done on the way. Latency is from calling ``submit`` to the photo
arriving at the fake server: all of it is ours (queue, database, HTTP), the engine adds nothing.

Two queues: ARQ on Redis with Postgres and one ``swapbot worker`` process (the scale set-up), and the
in-process runner on SQLite (the embedded default). Two loads each: a steady 30 jobs/s (Telegram's own
ceiling for one bot) for the latency figures, and all jobs at once for the most jobs per second.

    .venv/bin/python -m bench.job_queue [--jobs 1000] [--rate 30] [--queues arq,local] [--poll 0.005]
        [--quick]

``--quick`` (run by ``make test``): 10 jobs per run, both queues.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from bench.fake_bot_api import Fake
from bench.quiet import quiet_logs
from bot.texts import Catalogue
from db import ledger
from db.jobs import Delivery
from db.migrate import upgrade_engine
from db.models import Reason
from db.session import Database
from db.users import get_or_create
from jobs.client import JobClient
from jobs.config import QueueConfig, TelegramConfig, WorkerConfig
from jobs.platforms.telegram import telegram_bot
from jobs.queue import open_queue
from jobs.request import InputRef, JobRequest
from tests.jobs.squares import SquareEngine, picture, png

ROOT = Path(__file__).resolve().parents[1]  # the worker runs ``python -m tests.jobs...`` from here
PG_SERVER = "postgresql://postgres@localhost:5432"
REDIS_URL = "redis://localhost:6379/12"
USERS = 50
_CHATS = itertools.count(10_000)  # a chat per job, never reused: arrivals are matched by chat
TARGET, SOURCE = png(picture(((0, 0, 255), 20, 20))), png(picture(((255, 0, 0), 50, 30)))


# --- the fake Telegram, in its own process so it does not share our GIL -----------------------------


# --- set-up -------------------------------------------------------------------------------------------


async def _users(db: Database, count: int, credits: int) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for _ in range(count):
            user, _ = await get_or_create(session, "telegram", secrets.token_hex(8))
            await ledger.post(
                session, user_id=user.id, delta=credits, reason=Reason.ADMIN, key=f"bench:{user.id}"
            )
            ids.append(user.id)
    return ids


async def _requests(fake: Fake, bot: Any, user_ids: list[int], jobs: int) -> list[JobRequest]:
    """Distinct requests: every job has its own target photo (so its own id) and status message."""
    async with aiohttp.ClientSession() as http:
        targets = await fake.files(http, TARGET, jobs)
        (source,) = await fake.files(http, SOURCE, 1)
    requests = []
    for number, target in enumerate(targets):
        chat = next(_CHATS)
        status = await bot.send_message(chat, "Got it.")
        requests.append(
            JobRequest(
                user_ids[number % len(user_ids)],
                "swap",
                InputRef.telegram(*target),
                InputRef.telegram(*source),
                delivery=Delivery("telegram", str(chat), str(status.message_id)),
            )
        )
    return requests


# --- one run ----------------------------------------------------------------------------------------------


async def _delivered(fake: Fake, chats: set[str], timeout_s: float) -> dict[str, float]:
    deadline = time.time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            rows = await fake.sent(http, kind="photo")
            arrived = {chat: at for chat, kind, at in rows if chat in chats}
            if len(arrived) == len(chats) or time.time() > deadline:
                return arrived
            await asyncio.sleep(0.2)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(
    client: JobClient,
    fake: Fake,
    requests: list[JobRequest],
    rate: float | None,
    worker_pid: int | None = None,
    submitters: int = 16,
) -> dict[str, float]:
    """Submit at ``rate`` jobs/s (None: all at once, ``submitters`` at a time); figures in ms and jobs/s."""
    submitted: dict[str, float] = {}
    submit_ms: list[float] = []

    async def submit(request: JobRequest) -> None:
        start = time.time()
        await client.submit(request)
        submit_ms.append((time.time() - start) * 1000)
        submitted[request.delivery.chat] = start

    pids = {"bot": os.getpid(), "worker": worker_pid, "fake": fake.process.pid}
    cpu_before = {name: _cpu_s(pid) for name, pid in pids.items() if pid is not None}
    began = time.time()
    if rate is None:
        queue: asyncio.Queue[JobRequest] = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)

        async def submitter() -> None:
            while not queue.empty():
                await submit(queue.get_nowait())

        await asyncio.gather(*(submitter() for _ in range(submitters)))
    else:
        tasks = []
        for number, request in enumerate(requests):
            delay = began + number / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(submit(request)))
        await asyncio.gather(*tasks)
    arrived = await _delivered(fake, set(submitted), timeout_s=120)
    if len(arrived) != len(requests):
        raise RuntimeError(f"only {len(arrived)} of {len(requests)} results arrived")
    latencies = sorted((arrived[chat] - submitted[chat]) * 1000 for chat in submitted)
    cpu = {
        f"{name} cpu": (_cpu_s(pids[name]) - before) * 1000 / len(requests)
        for name, before in cpu_before.items()
    }
    return cpu | {
        "jobs/s": len(requests) / (max(arrived.values()) - began),
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "submit p50": statistics.median(submit_ms),
    }


# --- the two queues -------------------------------------------------------------------------------------


POLL_DELAY_S = QueueConfig().poll_delay_s  # --poll changes it


def _queue_config(redis_url: str | None) -> QueueConfig:
    return QueueConfig(
        redis_url=redis_url,
        queue_name=f"swapbot:bench:{secrets.token_hex(4)}",
        concurrency=16,
        poll_delay_s=POLL_DELAY_S,
    )


async def _arq(fake: Fake, jobs: int, rate: float) -> list[tuple[str, dict[str, float]]]:
    name = f"swapbot_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@localhost:5432/{name}"
    db = Database(url)
    config = _queue_config(REDIS_URL)
    worker: subprocess.Popen[bytes] | None = None
    bot = telegram_bot(TelegramConfig(fake.token, fake.url))
    log = Path(tempfile.gettempdir()) / f"bench-queue-worker-{os.getpid()}.log"
    try:
        await upgrade_engine(db.engine)
        spec = {
            "database_url": url,
            "queue": {k: v for k, v in dataclasses.asdict(config).items() if k != "spool_dir"},
            "telegram_url": fake.url,
            "token": fake.token,
            "delay_s": 0.0,
        }
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.jobs.worker_process", json.dumps(spec)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        queue = await open_queue(WorkerConfig(url, queue=config), db=db, telegram_bot=bot, texts=Catalogue())
        client = queue.client
        users = await _users(db, USERS, credits=jobs * 3)
        warm = await _requests(fake, bot, users, min(jobs, 20))
        await _run(client, fake, warm, None)  # the worker is up and warm
        results = []
        for label, load in ((f"steady {rate:g}/s", rate), ("all at once", None)):
            requests = await _requests(fake, bot, users, jobs)
            figures = await _run(client, fake, requests, load, worker.pid)
            results.append((f"ARQ + Postgres, {label}", figures))
        await queue.close()
        return results
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        await bot.session.close()
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = aioredis.from_url(REDIS_URL)
        await redis.flushdb()
        await redis.aclose()


async def _local(fake: Fake, jobs: int, rate: float) -> list[tuple[str, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        db = Database(url)
        bot = telegram_bot(TelegramConfig(fake.token, fake.url))
        await upgrade_engine(db.engine)
        config = WorkerConfig(url, queue=_queue_config(None))
        queue = await open_queue(
            config, db=db, telegram_bot=bot, engine_factory=lambda _: SquareEngine(), texts=Catalogue()
        )
        try:
            users = await _users(db, USERS, credits=jobs * 3)
            results = []
            for label, load in ((f"steady {rate:g}/s", rate), ("all at once", None)):
                requests = await _requests(fake, bot, users, jobs)
                results.append(
                    (f"in-process + SQLite, {label}", await _run(queue.client, fake, requests, load))
                )
            return results
        finally:
            await queue.close()
            await bot.session.close()
            await db.dispose()


async def main(jobs: int, rate: float, queues: list[str]) -> None:
    fake = Fake.start()
    try:
        print(f"ARQ poll delay {POLL_DELAY_S * 1000:g} ms")
        print(f"{jobs} jobs per run, {os.cpu_count()} CPUs; latency: from submit() to the photo at the fake")
        print(
            f"{'queue, load':<36}{'jobs/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'submit p50':>12}"
            f"{'CPU ms/job: bot':>17}{'worker':>9}{'fake':>7}"
        )
        for name in queues:
            runs = await (_arq if name == "arq" else _local)(fake, jobs, rate)
            for label, f in runs:
                worker = f"{f['worker cpu']:>9.1f}" if "worker cpu" in f else f"{'(in bot)':>9}"
                print(
                    f"{label:<36}{f['jobs/s']:>8.1f}{f['p50']:>9.1f}{f['p99']:>9.1f}{f['submit p50']:>12.1f}"
                    f"{f['bot cpu']:>17.1f}{worker}{f['fake cpu']:>7.1f}",
                    flush=True,
                )
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=30.0, help="jobs per second of the steady load")
    parser.add_argument("--queues", default="arq,local", help="comma-separated: arq, local")
    parser.add_argument("--poll", type=float, default=POLL_DELAY_S, help="ARQ poll delay, seconds")
    parser.add_argument("--quick", action="store_true", help="10 jobs per run")
    args = parser.parse_args()
    POLL_DELAY_S = args.poll
    if args.quick:
        args.jobs = 10
    quiet_logs()
    asyncio.run(main(args.jobs, args.rate, [q.strip() for q in args.queues.split(",")]))
