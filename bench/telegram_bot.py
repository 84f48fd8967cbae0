"""How many updates one Telegram bot process handles, and how long a photo takes from its update to the
result's upload, with an instant engine.

The bot is the real one, in its own process: ``swapbot.bots.telegram_from_settings`` (the dispatcher of
``bot/telegram/app.build_dispatcher``, its middlewares and routers) behind ``swapbot.web``'s app, fed
the way Telegram feeds a webhook: an aiohttp POST of each update to ``/telegram/webhook`` with the
secret header (answered 200 at once, handled after). It talks to a fake Bot API
(tests/fakes/telegram_server.py) in another process. The engine is tests/jobs/squares.py's
``SquareEngine`` (microseconds; see ``SavableSquares``), so every millisecond measured is ours:
webhook, middlewares, flows, database, queue, worker, Bot API calls.

Simulated users, each in their own private chat, in stages:

- commands at once, 32 webhook requests in flight (``/start`` from new users, then ``/balance``, then
  ``/help``): updates/s from the first POST to the last reply at the fake, and each one's time to it;
- every user saves a face (a photo captioned ``/setface me``; set-up, not timed);
- photos, one per user. A photo is one swap job whose one face the worker swaps in the same job
  (bot/flows/swap.py); timed from the POST to the result photo's upload at the fake:
  - ``--burst`` users at once: photo updates/s (to the status message) and results/s;
  - ``--steady`` users at ``--rate`` a second (30: Telegram's own ceiling for one bot): the median and
    p99, the goal's figure;
  - ``--alone`` users one after another, each once the last result is up: the latency with no queue.

CPU per update of the bot and worker processes (Linux /proc) is printed too: on a shared machine it says
more than the wall-clock rates. So are the SQL statements per photo: every statement the bot and worker
processes send to the database from the first photo's POST until the last result is up and the processes
are quiet, divided by the photos (all three photo stages, then the one-by-one stage alone, which has no
queue and no contention), by kind, with the transactions they ran in (on Postgres each adds its BEGIN
and COMMIT or ROLLBACK round trips, which are not statements SQLAlchemy sends; on SQLite the BEGIN
IMMEDIATE is one) and the autocommit reads (``Database.read``: no BEGIN, no COMMIT). They are counted
for real, in the processes: the bench's entry points (``--bot-process``, ``--worker-process``) install a
``before_cursor_execute`` and a ``begin`` listener on SQLAlchemy's ``Engine`` class (``_count_sql``)
before anything opens a database, counting into a small file each maps shared and this process reads
when it likes (``SqlCounts``).

Two set-ups: ARQ on Redis with Postgres and a separate worker process (as bench/job_queue.py runs one;
``swapbot.wiring.worker_config`` of the bot's settings), and the embedded mode (SQLite and the
in-process runner in the bot process). The fake imposes no limits, so the bot's outgoing pacing for
Telegram's limits (1 message a second per chat, 30 a second overall:
bot/telegram/middlewares/outgoing.py) is lifted unless ``--telegram-limits``: at 30 jobs/s a job's
status message, edits and result are ~4 calls, so the overall limit alone would queue them.

    .venv/bin/python -m bench.telegram_bot [--burst 300] [--steady 600] [--alone 30] [--rate 30]
        [--modes arq,embedded] [--telegram-limits] [--profile PREFIX] [--quick]

``--quick`` (run by ``make test``): 23 users, both set-ups, about 20 s each.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import mmap
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import cv2
import numpy as np
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from bench.fake_bot_api import Fake
from bench.quiet import quiet_logs
from db.base import utcnow
from db.models import SavedFace, User
from db.session import Database
from engine.face import Face, Identity
from jobs.worker import EngineFactory, default_engine
from tests.jobs.squares import SquareEngine, picture, png

ROOT = Path(__file__).resolve().parents[1]  # child processes run ``python -m ...`` from here
PG_SERVER = "postgresql://postgres@localhost:5432"
REDIS_URL = "redis://localhost:6379/14"  # ours alone: flushed after the ARQ run
SECRET = "bench-webhook-secret"
FACE = png(picture(((255, 0, 0), 50, 30)))  # one "face" (a saturated square) to save
TARGET = png(picture(((0, 0, 255), 20, 20)))  # one face to swap into
GOAL_COMMANDS_PER_S = 300.0
GOAL_P50_MS = 150.0
CONCURRENT_POSTS = 32  # webhook requests in flight at once during the bursts (Telegram uses up to 40)


class SavableSquares(SquareEngine):
    """The square engine with a 64 px identity chip: a saved face's chip is decoded like any image, and
    SquareEngine's own 32 px chip is under engine.imageio's MIN_SIDE (the swap would say the saved face
    cannot be read). It says it gives landmarks, so analyses are not joined by the classic (dlib)
    landmarker: that is engine work, which this benchmark leaves out."""

    gives_landmarks = True

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        found = super().identity(image, face)
        chip = cv2.resize(found.chip, (64, 64), interpolation=cv2.INTER_NEAREST)
        return Identity(chip=chip, kps=found.kps, embeddings=found.embeddings)


class Arrivals:
    """What the bot sent, by chat and kind (message, photo ...), with the time it reached the fake."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.seen = 0
        self.at: dict[tuple[str, str], list[float]] = defaultdict(list)

    async def refresh(self, http: aiohttp.ClientSession) -> None:
        rows = await self.fake.sent(http, since=self.seen)
        self.seen += len(rows)
        for chat, kind, at in rows:
            self.at[(chat, kind)].append(at)

    def count(self, chat: int, kind: str) -> int:
        return len(self.at[(str(chat), kind)])

    async def wait(
        self, http: aiohttp.ClientSession, want: dict[int, int], kind: str, timeout_s: float = 120.0
    ) -> dict[int, float]:
        """Until chat ``c`` has ``want[c]`` messages of ``kind``: when the last of them arrived, by chat."""
        deadline = time.time() + timeout_s
        while True:
            await self.refresh(http)
            missing = [c for c, n in want.items() if self.count(c, kind) < n]
            if not missing:
                return {c: self.at[(str(c), kind)][n - 1] for c, n in want.items()}
            if time.time() > deadline:
                raise RuntimeError(f"{len(missing)} of {len(want)} chats got no {kind} in {timeout_s:g} s")
            await asyncio.sleep(0.1)


# --- updates, as Telegram writes them --------------------------------------------------------------------


class People:
    """Private chats with the bot: a user id is its chat id; updates numbered as Telegram numbers them."""

    def __init__(self) -> None:
        self._ids = itertools.count(7_000_000_000 + secrets.randbelow(10**8))
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}

    def new(self, count: int) -> list[int]:
        people = [next(self._ids) for _ in range(count)]
        for person in people:
            self._message_ids[person] = itertools.count(1)
        return people

    def message(self, person: int, **content: Any) -> dict[str, Any]:
        sender = {"id": person, "is_bot": False, "first_name": "Bench", "language_code": "en"}
        message = {
            "message_id": next(self._message_ids[person]),
            "date": int(time.time()),
            "chat": {"id": person, "type": "private", "first_name": "Bench"},
            "from": sender,
            **content,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def command(self, person: int, text: str) -> dict[str, Any]:
        entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
        return self.message(person, text=text, entities=[entity])

    def photo(
        self, person: int, file: tuple[str, str], size: int, caption: str | None = None
    ) -> dict[str, Any]:
        file_id, unique = file
        photo = [{"file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512}]
        photo[0]["file_size"] = size
        if caption is None:
            return self.message(person, photo=photo)
        entity = {"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}
        return self.message(person, photo=photo, caption=caption, caption_entities=[entity])


# --- the bot process: swapbot's own composition, the square engine, Telegram's pacing lifted ---------------


def _engine_factory(spec: dict[str, Any]) -> EngineFactory:
    """The square engine, or with ``"engine": "settings"`` the one the settings choose (classic by
    default: bench/photo_latency.py), built as ``swapbot run`` builds it."""
    if spec.get("engine", "squares") == "settings":
        return default_engine
    return lambda _: SavableSquares()


async def _serve_bot(spec: dict[str, Any]) -> None:
    from aiogram.client.session.middlewares.base import BaseRequestMiddleware

    from bot.telegram.app import WebhookHandler, set_webhook
    from bot.telegram.middlewares import OutgoingLimits, OutgoingMiddleware
    from swapbot.bots import telegram_from_settings
    from swapbot.settings import Settings
    from swapbot.web import web_app

    settings = Settings(_env_file=None, **spec["settings"])  # type: ignore[call-arg]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with telegram_from_settings(settings, engine_factory=_engine_factory(spec)) as process:
        telegram = process.telegram
        if spec["lift_limits"]:
            unlimited = OutgoingLimits(chat_burst=10**6, overall_per_s=10.0**6, overall_burst=10**6)
            middleware: BaseRequestMiddleware
            for middleware in telegram.bot.session.middleware:  # type: ignore[assignment]
                if isinstance(middleware, OutgoingMiddleware):
                    middleware.limits = unlimited
        secret = settings.telegram_webhook_secret or ""
        handler = WebhookHandler(telegram.dispatcher, telegram.bot, secret)
        app = web_app(telegram.services.db, handler)
        assert settings.telegram_webhook_url is not None
        await set_webhook(telegram.dispatcher, telegram.bot, settings.telegram_webhook_url, secret)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", spec["port"]).start()
            await stop.wait()
        finally:
            await runner.cleanup()


def _serve_worker(spec: dict[str, Any]) -> None:
    """A ``swapbot worker`` on the bot's settings (swapbot.wiring.worker_config), with the square engine."""
    from bot.telegram.keyboards import PickerMarkup
    from bot.texts import Catalogue
    from jobs.worker import serve
    from swapbot.settings import Settings
    from swapbot.wiring import worker_config

    config = worker_config(Settings(_env_file=None, **spec["settings"]))  # type: ignore[call-arg]
    texts = Catalogue()
    markup = PickerMarkup(texts)
    markups = {"telegram": markup}
    asyncio.run(serve(config, engine_factory=lambda _: SavableSquares(), texts=texts, markups=markups))


PROFILED_STAGES = ("commands", "photos")  # what the parent profiles, in order: PROFILE.<process>.<stage>


def _profile_on_signals(path: str) -> None:
    """SIGUSR1 starts a cProfile of this process's main thread, SIGUSR2 writes it to ``path.<stage>``
    (the stages of PROFILED_STAGES in turn): the stages alone, not the start-up's imports and schema
    building. Timed by the main thread's CPU: waiting on sockets counts nothing, and threads (SQLite's,
    the engine's) are not charged to whatever the loop was doing."""
    import cProfile

    stages = iter(PROFILED_STAGES)
    held: list[cProfile.Profile] = []

    def start(*_: object) -> None:
        held.append(cProfile.Profile(time.thread_time))
        held[-1].enable()

    def stop(*_: object) -> None:
        profile = held.pop()
        profile.disable()
        profile.dump_stats(f"{path}.{next(stages)}")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


# int64 each, in this order: all statements, those of each kind, then the transactions SQLAlchemy began:
# real ones (BEGIN ... COMMIT or ROLLBACK) and ``Database.read``'s in autocommit (no BEGIN, no COMMIT)
SQL_COUNTED = (
    "statements",
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "savepoints",
    "BEGIN",
    "transactions",
    "autocommit",
)
# A statement's kind by its first word: savepoints are SAVEPOINT, RELEASE and ROLLBACK TO; BEGIN is the
# explicit BEGIN IMMEDIATE of SQLite's write transactions (db/session.py; Postgres's BEGIN is asyncpg's,
# not a statement SQLAlchemy sends); whatever else (PRAGMA, WITH, DDL) counts as "other".
SQL_KINDS = {
    "SELECT": "SELECT",
    "INSERT": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "SAVEPOINT": "savepoints",
    "RELEASE": "savepoints",
    "ROLLBACK": "savepoints",
    "BEGIN": "BEGIN",
}


def _count_sql(path: str) -> None:
    """Count this process's database work into ``path`` (``SqlCounts`` made it, zeroed): every statement
    SQLAlchemy sends to a driver (``before_cursor_execute`` on the ``Engine`` class: every engine, the
    async ones' sync engines included; savepoints too), by kind (``SQL_KINDS``), and every transaction
    begun (the ``begin`` event), told from ``Database.read``'s autocommit ones by their execution option.
    The file is mapped shared, so the parent reads the counts at any moment with no signal or flush."""
    from sqlalchemy import event
    from sqlalchemy.engine import Connection, Engine

    from db.session import READ_ONLY

    with open(path, "r+b") as file:
        counts = np.frombuffer(mmap.mmap(file.fileno(), 0), dtype=np.int64)
    slot = {name: number for number, name in enumerate(SQL_COUNTED)}
    lock = threading.Lock()  # aiosqlite and the engine's threads: statements may come from several

    def statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        words = sql.split(None, 1)
        kind = SQL_KINDS.get(words[0].upper()) if words else None
        with lock:
            counts[0] += 1
            if kind is not None:
                counts[slot[kind]] += 1

    def begin(conn: Connection) -> None:
        kind = "autocommit" if conn.get_execution_options().get(READ_ONLY) else "transactions"
        with lock:
            counts[slot[kind]] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", begin)


@dataclass(frozen=True)
class SqlCounts:
    """What one child process's ``_count_sql`` has counted so far, read from its file."""

    path: Path

    @classmethod
    def create(cls, folder: Path, process: str) -> SqlCounts:
        path = folder / f"{process}.sql-counts"
        path.write_bytes(bytes(8 * len(SQL_COUNTED)))
        return cls(path)

    def read(self) -> dict[str, int]:
        values = np.frombuffer(self.path.read_bytes(), dtype=np.int64)
        return {name: int(value) for name, value in zip(SQL_COUNTED, values, strict=True)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    webhook: str
    sql: SqlCounts

    @classmethod
    async def start(
        cls,
        settings: dict[str, Any],
        log: Path,
        folder: Path,
        *,
        lift_limits: bool = True,
        profile: str | None = None,
        engine: str = "squares",
    ) -> BotProcess:
        """The bot on ``settings`` with ``engine`` (``_engine_factory``), its SQL counted into ``folder``;
        ``profile``: a prefix for ``_profile_on_signals``."""
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        settings = settings | {
            "telegram_webhook_url": f"{url}/telegram/webhook",
            "telegram_webhook_secret": SECRET,
        }
        sql = SqlCounts.create(folder, "bot")
        spec = json.dumps(
            {
                "settings": settings,
                "port": port,
                "lift_limits": lift_limits,
                "profile": profile,
                "count_sql": str(sql.path),
                "engine": engine,
            }
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.telegram_bot", "--bot-process", spec],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        bot = cls(process, f"{url}/telegram/webhook", sql)
        deadline = time.time() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the bot process exited ({process.returncode}); see {log}")
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            return bot
                except aiohttp.ClientError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError(f"the bot process did not start; see {log}")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- feeding updates and timing them ------------------------------------------------------------


@dataclass
class Row:
    label: str
    updates: int
    per_s: float  # updates (or results) per second, first POST to last arrival
    p50: float
    p99: float
    cpu_ms: dict[str, float]  # CPU per update of each process (bot, worker, fake)
    kind: str = "command"  # command, photo, result, steady, alone


@dataclass(frozen=True)
class Options:
    burst: int  # users who send a photo at once
    steady: int  # users who send a photo at ``rate`` a second
    alone: int  # users who send a photo one after another, each after the last one's result
    rate: float
    lift_limits: bool
    profile: str | None  # cProfile stats of the bot and worker: PROFILE.<mode>.<process>.<stage>

    @property
    def users(self) -> int:
        return self.burst + self.steady + self.alone


@dataclass
class Bench:
    fake: Fake
    bot: BotProcess
    http: aiohttp.ClientSession
    arrivals: Arrivals
    database_url: str
    worker_pid: int | None = None
    profiling: bool = False
    people: People = field(default_factory=People)
    worker_sql: SqlCounts | None = None  # ARQ: the worker process's (the bot's is ``bot.sql``)

    def profile(self, on: bool) -> None:
        """Start (or stop and write) the bot's and worker's profiles of a stage (``_profile_on_signals``)."""
        if self.profiling:
            for pid in (self.bot.process.pid, self.worker_pid):
                if pid is not None:
                    os.kill(pid, signal.SIGUSR1 if on else signal.SIGUSR2)

    async def post(self, update: dict[str, Any]) -> float:
        """POST ``update`` to the webhook as Telegram does; returns when it was sent."""
        start = time.time()
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self.http.post(self.bot.webhook, json=update, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"the webhook answered {response.status}")
        return start

    async def at_once(self, updates: dict[int, dict[str, Any]]) -> dict[int, float]:
        """POST every update, ``CONCURRENT_POSTS`` at a time: when each was sent, by chat."""
        sent: dict[int, float] = {}
        queue = list(updates.items())
        queue.reverse()

        async def poster() -> None:
            while queue:
                chat, update = queue.pop()
                sent[chat] = await self.post(update)

        await asyncio.gather(*(poster() for _ in range(CONCURRENT_POSTS)))
        return sent

    async def steady(self, updates: dict[int, dict[str, Any]], rate: float) -> dict[int, float]:
        """POST the updates at ``rate`` a second."""
        sent: dict[int, float] = {}
        began = time.time()

        async def post(chat: int, update: dict[str, Any]) -> None:
            sent[chat] = await self.post(update)

        tasks = []
        for number, (chat, update) in enumerate(updates.items()):
            delay = began + number / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(chat, update)))
        await asyncio.gather(*tasks)
        return sent

    async def one_by_one(self, updates: dict[int, dict[str, Any]], kind: str) -> dict[int, float]:
        """POST each update once the one before has its ``kind`` reply: no queue, nothing in parallel."""
        sent: dict[int, float] = {}
        for chat, update in updates.items():
            await self.arrivals.refresh(self.http)
            want = {chat: self.arrivals.count(chat, kind) + 1}
            sent[chat] = await self.post(update)
            await self.arrivals.wait(self.http, want, kind)
        return sent

    async def sql_settled(self, quiet_s: float = 0.5, timeout_s: float = 30.0) -> dict[str, dict[str, int]]:
        """Each process's SQL counts, once none has changed for ``quiet_s``: a result is uploaded before
        its job is marked done and its status message says so, and those statements belong to it."""
        counters = {"bot": self.bot.sql} | ({"worker": self.worker_sql} if self.worker_sql else {})
        last = {name: counter.read() for name, counter in counters.items()}
        quiet_since = time.time()
        deadline = quiet_since + timeout_s  # a process that never goes quiet: its counts as they are
        while time.time() - quiet_since < quiet_s and time.time() < deadline:
            await asyncio.sleep(0.05)
            now = {name: counter.read() for name, counter in counters.items()}
            if now != last:
                last, quiet_since = now, time.time()
        return last

    def cpu(self) -> dict[str, float]:
        pids = {"bot": self.bot.process.pid, "worker": self.worker_pid, "fake": self.fake.process.pid}
        return {name: _cpu_s(pid) for name, pid in pids.items() if pid is not None}

    async def timed(
        self,
        feed: Callable[[], Awaitable[dict[int, float]]],
        kind: str,
        replies: int,
    ) -> tuple[dict[int, float], dict[int, float], dict[str, float]]:
        """Run ``feed``; wait for ``replies`` more ``kind`` messages in each chat it posted to. Returns
        when each update was posted, when its last reply arrived, and each process's CPU seconds."""
        await self.arrivals.refresh(self.http)
        before = {key: len(times) for key, times in self.arrivals.at.items()}
        cpu = self.cpu()
        sent = await feed()
        want = {chat: before.get((str(chat), kind), 0) + replies for chat in sent}
        arrived = await self.arrivals.wait(self.http, want, kind)
        return sent, arrived, {name: s - cpu[name] for name, s in self.cpu().items()}

    async def replies_to(self, text: str) -> int:
        """How many messages the bot sends for ``text``: asked by one user who has sent /start before
        (unless ``text`` is /start), each time waited for until the chat is quiet for half a second."""
        (person,) = self.people.new(1)
        before = 0
        for command in dict.fromkeys(("/start", text)):
            await self.post(self.people.command(person, command))
            count, quiet_since = before, time.time()
            while time.time() - quiet_since < 0.5:
                await asyncio.sleep(0.05)
                await self.arrivals.refresh(self.http)
                if self.arrivals.count(person, "message") != count:
                    count, quiet_since = self.arrivals.count(person, "message"), time.time()
            if count == before:
                raise RuntimeError(f"no answer to {command}")
            replies, before = count - before, count
        return replies


@dataclass
class Statements:
    """The SQL a stage's photos cost: each process's counts (SQL_COUNTED) over the stage."""

    label: str
    photos: int
    counts: dict[str, dict[str, int]]  # process -> SQL_COUNTED name -> how many

    @classmethod
    def between(
        cls, label: str, photos: int, before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
    ) -> Statements:
        spent = {p: {name: after[p][name] - before[p][name] for name in SQL_COUNTED} for p in after}
        return cls(label, photos, spent)

    def per_photo(self, name: str, process: str | None = None) -> float:
        processes = [process] if process else list(self.counts)
        return sum(self.counts[p][name] for p in processes) / self.photos


def _row(
    label: str, sent: dict[int, float], arrived: dict[int, float], cpu_s: dict[str, float], kind: str
) -> Row:
    latencies = sorted((arrived[c] - sent[c]) * 1000 for c in sent)
    return Row(
        label,
        len(sent),
        len(sent) / (max(arrived.values()) - min(sent.values())),
        statistics.median(latencies),
        latencies[int(0.99 * (len(latencies) - 1))],
        {name: seconds * 1000 / len(sent) for name, seconds in cpu_s.items()},
        kind,
    )


async def _stages(bench: Bench, options: Options) -> tuple[list[Row], list[Statements]]:
    """Commands from every user, a face saved by each, then photos: at once, steady, one by one; the
    photos' SQL statements, all three stages and the one-by-one stage alone."""
    people = bench.people
    rows = []
    everyone = people.new(options.users)
    bench.profile(True)
    for text in ("/start", "/balance", "/help"):
        replies = await bench.replies_to(text)
        updates = {p: people.command(p, text) for p in everyone}
        sent, arrived, cpu = await bench.timed(lambda u=updates: bench.at_once(u), "message", replies)
        label = f"{text} at once" + (" (new users)" if text == "/start" else "")
        rows.append(_row(label, sent, arrived, cpu, "command"))
    bench.profile(False)

    faces = await bench.fake.files(bench.http, FACE, len(everyone))
    setface = {p: people.photo(p, f, len(FACE), "/setface me") for p, f in zip(everyone, faces, strict=True)}
    await bench.at_once(setface)
    await saved_faces(bench, len(everyone))
    await agree_to_terms(bench)

    targets = await bench.fake.files(bench.http, TARGET, len(everyone))
    photos = iter((p, people.photo(p, f, len(TARGET))) for p, f in zip(everyone, targets, strict=True))
    at_once = dict(itertools.islice(photos, options.burst))
    steady = dict(itertools.islice(photos, options.steady))
    alone = dict(photos)

    sql_before = await bench.sql_settled()  # the set-up's own statements are done
    await bench.arrivals.refresh(bench.http)
    bench.profile(True)
    cpu = bench.cpu()
    sent, acked, _ = await bench.timed(lambda: bench.at_once(at_once), "message", 1)
    results = await bench.arrivals.wait(bench.http, {p: 1 for p in at_once}, "photo")
    used = {name: seconds - cpu[name] for name, seconds in bench.cpu().items()}
    rows.append(_row("photos at once: status message", sent, acked, used, "photo"))
    rows.append(_row("photos at once: result uploaded", sent, results, used, "result"))

    rate = options.rate
    sent, results, cpu = await bench.timed(lambda: bench.steady(steady, rate), "photo", 1)
    rows.append(_row(f"photos at {rate:g}/s: result uploaded", sent, results, cpu, "steady"))

    sql_alone = await bench.sql_settled()
    sent, results, cpu = await bench.timed(lambda: bench.one_by_one(alone, "photo"), "photo", 1)
    rows.append(_row("photos one by one: result uploaded", sent, results, cpu, "alone"))
    bench.profile(False)
    sql_after = await bench.sql_settled()
    statements = [
        Statements.between(f"all {len(targets)} photos", len(targets), sql_before, sql_after),
        Statements.between(f"{len(alone)} photos one by one", len(alone), sql_alone, sql_after),
    ]
    return rows, statements


TERMS = "bench-1"  # the terms version the bot runs with, which the simulated people agree to


async def saved_faces(bench: Bench, count: int, timeout_s: float = 120.0) -> None:
    """Until ``count`` faces are saved (the set-up's analysis jobs are done)."""
    db = Database(bench.database_url)
    deadline = time.time() + timeout_s
    try:
        while True:
            async with db.session() as session:
                saved = await session.scalar(select(func.count()).select_from(SavedFace))
            if saved is not None and saved >= count:
                return
            if time.time() > deadline:
                raise RuntimeError(f"only {saved} of {count} faces saved in {timeout_s:g} s")
            await asyncio.sleep(0.2)
    finally:
        await db.dispose()


async def agree_to_terms(bench: Bench) -> None:
    """Every simulated person has agreed to the terms (set-up, not timed): otherwise each first photo
    gets the consent question instead of a swap."""
    db = Database(bench.database_url)
    try:
        async with db.transaction() as session:
            await session.execute(sql_update(User).values(terms_accepted_at=utcnow(), terms_version=TERMS))
    finally:
        await db.dispose()


# --- the two set-ups ----------------------------------------------------------------------


def bot_settings(fake: Fake, database_url: str, redis_url: str | None) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": "bench-secret-key-0123456789abcdef",
        "telegram_bot_token": fake.token,
        "telegram_api_url": fake.url,
        "rate_burst": 10_000,  # simulated users are not flooding us; the limiter is still on the path
        "rate_per_minute": 600_000.0,
        "daily_cap": 0,
        "free_credits": 100,
        "worker_concurrency": 16,
        "log_level": "WARNING",
        "terms_version": TERMS,
    }


Measured = tuple[list[Row], list[Statements]]  # one set-up's table rows and SQL


async def _with_bot(
    fake: Fake,
    settings: dict[str, Any],
    options: Options,
    folder: Path,
    worker: tuple[subprocess.Popen[bytes], SqlCounts] | None = None,
) -> Measured:
    log = Path(tempfile.gettempdir()) / f"bench-telegram-bot-{os.getpid()}.log"
    mode = "arq" if settings["redis_url"] else "embedded"
    profile = f"{options.profile}.{mode}.bot" if options.profile else None
    bot = await BotProcess.start(settings, log, folder, lift_limits=options.lift_limits, profile=profile)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENT_POSTS * 2)) as http:
            bench = Bench(
                fake,
                bot,
                http,
                Arrivals(fake),
                settings["database_url"],
                worker[0].pid if worker is not None else None,
                options.profile is not None,
                worker_sql=worker[1] if worker is not None else None,
            )
            return await _stages(bench, options)
    finally:
        bot.stop()


async def _arq(fake: Fake, options: Options) -> Measured:
    from db.migrate import upgrade_engine

    name = f"swapbot_bench_tg_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@localhost:5432/{name}"
    settings = bot_settings(fake, url, REDIS_URL)
    worker: subprocess.Popen[bytes] | None = None
    log = Path(tempfile.gettempdir()) / f"bench-telegram-worker-{os.getpid()}.log"
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = Database(url)
            await upgrade_engine(db.engine)
            await db.dispose()
            profile = f"{options.profile}.arq.worker" if options.profile else None
            sql = SqlCounts.create(Path(folder), "worker")
            spec = {"settings": settings, "profile": profile, "count_sql": str(sql.path)}
            with log.open("wb") as out:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "bench.telegram_bot", "--worker-process", json.dumps(spec)],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            return await _with_bot(fake, settings, options, Path(folder), (worker, sql))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = aioredis.from_url(REDIS_URL)
        await redis.flushdb()
        await redis.aclose()


async def _embedded(fake: Fake, options: Options) -> Measured:
    with tempfile.TemporaryDirectory() as folder:
        settings = bot_settings(fake, f"sqlite+aiosqlite:///{folder}/bench.db", None)
        return await _with_bot(fake, settings, options, Path(folder))


MODES = {"arq": ("ARQ + Postgres", _arq), "embedded": ("embedded (SQLite)", _embedded)}


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _print_row(title: str, r: Row) -> None:
    cpu = "".join(f"{r.cpu_ms[name]:>8.2f}" if name in r.cpu_ms else f"{'':>8}" for name in ("bot", "worker"))
    unit = "  results/s" if r.kind in ("result", "steady", "alone") else ""
    label = f"{title}, {r.label}"
    print(f"{label:<56}{r.updates:>5}{r.per_s:>7.0f}{r.p50:>9.1f}{r.p99:>9.1f}{cpu}{unit}", flush=True)


def statements_line(s: Statements) -> str:
    """One line of a stage's SQL per photo: in all, by process, by verb, and the transactions."""
    processes = ", ".join(f"{p} {s.per_photo('statements', p):.1f}" for p in s.counts)
    verbs = SQL_COUNTED[1 : SQL_COUNTED.index("transactions")]
    other = s.per_photo("statements") - sum(s.per_photo(verb) for verb in verbs)
    by_verb = ", ".join(f"{verb} {s.per_photo(verb):.1f}" for verb in verbs)
    return (
        f"  SQL statements per photo, {s.label}: {s.per_photo('statements'):.1f} ({processes}; {by_verb}, "
        f"other {other:.1f}) in {s.per_photo('transactions'):.1f} transactions, "
        f"{s.per_photo('autocommit'):.1f} autocommit reads"
    )


def _goals(title: str, rows: list[Row], rate: float) -> str:
    """The goal's two figures for one set-up, what one core could do at the CPU measured, and whether
    the steady load was kept up with (when not, its latency is mostly the queue growing)."""
    commands = [r for r in rows if r.kind == "command"]
    slowest = min(r.per_s for r in commands)
    costliest = max(r.cpu_ms["bot"] for r in commands)
    (steady,) = (r for r in rows if r.kind == "steady")
    (alone,) = (r for r in rows if r.kind == "alone")
    kept_up = steady.per_s >= 0.9 * rate
    lines = [
        f"{title}: commands {slowest:.0f} updates/s at the slowest (goal {GOAL_COMMANDS_PER_S:g}: "
        f"{_verdict(slowest >= GOAL_COMMANDS_PER_S)}); the bot's CPU, up to {costliest:.1f} ms an update, "
        f"allows {1000 / costliest:.0f}/s on one core",
        f"  p50 update -> result at {rate:g}/s: {steady.p50:.0f} ms (goal < {GOAL_P50_MS:g} ms: "
        f"{_verdict(steady.p50 < GOAL_P50_MS)}), with no queue (one by one) {alone.p50:.0f} ms",
    ]
    if not kept_up:
        lines.append(
            f"  the set-up kept up with {steady.per_s:.0f} of the {rate:g} photos/s asked: the {rate:g}/s "
            "latency is mostly the queue growing"
        )
    return "\n".join(lines)


async def main(modes: list[str], options: Options) -> None:
    fake = Fake.start()
    try:
        pacing = "lifted (the fake has no limits)" if options.lift_limits else "on"
        print(
            f"{options.users} users send /start, /balance, /help and save a face; then photos: "
            f"{options.burst} at once, {options.steady} at {options.rate:g}/s, {options.alone} one by one"
        )
        print(f"{os.cpu_count()} CPUs; the bot's pacing for Telegram's limits: {pacing}")
        print("updates POSTed to the bot's webhook; times from the POST to the reply or result at the fake;")
        print("bot, worker: CPU ms per update of the bot process and of the worker process (ARQ)")
        print(f"{'set-up, stage':<56}{'n':>5}{'per s':>7}{'p50 ms':>9}{'p99 ms':>9}{'bot':>8}{'worker':>8}")
        goals: list[str] = []
        for mode in modes:
            title, run = MODES[mode]
            rows, statements = await run(fake, options)
            for row in rows:
                _print_row(title, row)
            goals.append(_goals(title, rows, options.rate))
            goals.extend(statements_line(s) for s in statements)
        print("\n".join(goals))
    finally:
        fake.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--bot-process", "--worker-process"):
        quiet_logs()
        spec = json.loads(sys.argv[2])

        def serve() -> None:
            if sys.argv[1] == "--bot-process":
                asyncio.run(_serve_bot(spec))
            else:
                _serve_worker(spec)

        if spec.get("profile"):
            _profile_on_signals(spec["profile"])
        if spec.get("count_sql"):
            _count_sql(spec["count_sql"])
        serve()
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=300, help="users who send a photo at once")
    parser.add_argument("--steady", type=int, default=600, help="users who send a photo at --rate a second")
    parser.add_argument("--alone", type=int, default=30, help="users who send a photo one after another")
    parser.add_argument("--rate", type=float, default=30.0, help="photos per second of the steady load")
    parser.add_argument("--modes", default="arq,embedded", help="comma-separated: arq, embedded")
    parser.add_argument("--telegram-limits", action="store_true", help="keep the bot's pacing for Telegram")
    parser.add_argument(
        "--profile",
        help="cProfile the bot and worker over the commands, then photos: PREFIX.<mode>.<process>.<stage>",
    )
    parser.add_argument("--quick", action="store_true", help="a dozen users, a few seconds a set-up")
    args = parser.parse_args()
    if args.quick:
        args.burst, args.steady, args.alone = 10, 10, 3
    quiet_logs()
    modes = [m.strip() for m in args.modes.split(",")]
    options = Options(args.burst, args.steady, args.alone, args.rate, not args.telegram_limits, args.profile)
    asyncio.run(main(modes, options))
