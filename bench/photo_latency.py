"""How long one one-face photo takes from its Telegram update to the result photo, with the classic engine
in the embedded mode, against the bare engine swap of the same photo.

The bot is bench/telegram_bot.py's: the real one in its own process (``swapbot.bots.telegram_from_settings``
behind ``swapbot.web``'s app, fed by webhook POSTs), talking to the fake Bot API in another process,
here in the embedded mode (SQLite, the in-process runner) with the engine the settings choose: the
classic one (dlib, ``SWAPBOT_ENGINE=classic``, the default), loaded in the bot process as ``swapbot
run`` loads it. The content guard is on, as after ``swapbot models fetch nudenet`` (NudeNet 320n, linked
from the installed nudenet package into a models folder of its own); its state is printed.

The photo is a real face: skimage's astronaut (512 x 512, one face) as a JPEG. One person sends /start,
saves that face (the photo captioned ``/setface me``), has agreed to the terms, then sends the same
photo ``--repeat`` times (a new Telegram file each time, so no job is a repeat of an earlier one), each
once the last result is up and the bot has gone quiet: no queue, nothing in parallel. Each is timed from
the POST to the result photo's arrival at the fake, what the person sees; one untimed photo goes first
(the first swap's lazy loads). Printed: the median and p90, and the SQL statements per photo
(bench/telegram_bot.py's ``_count_sql``).

The reference, in this process once the bot has stopped (nothing else running): ``engine.pipeline.swap``
with the classic engine on the decoded photo, from the saved identity (the astronaut's face through
``engine.stored``, as a worker reads a saved face): detection and the swap, the engine work any flow
needs. Beside it, the parts a flow may do more than once for one photo: decoding, one detection, one
embedding (``identity``) and one guard check (``bench.timing.median_ms``: a warm-up, then the median).

    .venv/bin/python -m bench.photo_latency [--repeat 15] [--quick]

``--quick`` (run by ``make test``): 3 photos and 3 reference rounds, about 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cv2
from sqlalchemy import func, select

from bench.fake_bot_api import Fake
from bench.quiet import quiet_logs
from bench.telegram_bot import (
    Arrivals,
    Bench,
    BotProcess,
    Statements,
    agree_to_terms,
    bot_settings,
    saved_faces,
    statements_line,
)
from bench.timing import median_ms
from db.models import User
from db.session import Database
from engine import pipeline
from engine.choices import DEFAULT_PROVIDERS
from engine.classic.backend import ClassicEngine
from engine.imageio import decode_image
from engine.models.registry import package_dir, path_of, spec
from engine.safety.guard import GUARD_MODEL, load_guard
from engine.safety.settings import GuardSpec
from engine.stored import from_stored, to_stored

JPEG_QUALITY = 90
SWAP_COST = 1  # bot.services.BotConfig's default: what each photo's result is charged


def astronaut_jpeg() -> bytes:
    """skimage's astronaut (one face, 512 x 512) as a JPEG, what a person would send."""
    from skimage import data

    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    assert ok
    return jpeg.tobytes()


def guard_models(folder: Path) -> Path:
    """A models folder with the guard's model linked from the installed nudenet package (when there is
    one: without it the guard is off, and the output says so)."""
    models = folder / "models"
    models.mkdir()
    package = package_dir("nudenet")
    if package is not None and (package / "320n.onnx").is_file():
        path_of(spec(GUARD_MODEL), models).symlink_to(package / "320n.onnx")
    return models


@dataclass
class ThroughTheBot:
    latencies_ms: list[float]
    statements: Statements


async def _result_ms(bench: Bench, person: int, file: tuple[str, str], size: int) -> float:
    """POST one photo; milliseconds until its result photo reached the fake, once the bot is quiet."""
    await bench.arrivals.refresh(bench.http)
    want = {person: bench.arrivals.count(person, "photo") + 1}
    sent = await bench.post(bench.people.photo(person, file, size))
    arrived = await bench.arrivals.wait(bench.http, want, "photo")
    await bench.sql_settled()  # the job's own ending (marked done, status edited) is not the next one's
    return (arrived[person] - sent) * 1000


async def _credits_left(bench: Bench) -> int:
    """The one person's balance, as /balance would say it."""
    db = Database(bench.database_url)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.sum(User.balance))) or 0)
    finally:
        await db.dispose()


async def _through_the_bot(fake: Fake, folder: Path, photo: bytes, repeat: int) -> ThroughTheBot:
    settings: dict[str, Any] = bot_settings(fake, f"sqlite+aiosqlite:///{folder}/bench.db", None)
    settings |= {"engine": "classic", "models_dir": str(guard_models(folder))}
    log = Path(tempfile.gettempdir()) / f"bench-photo-latency-{os.getpid()}.log"
    bot = await BotProcess.start(settings, log, folder, engine="settings")
    try:
        async with aiohttp.ClientSession() as http:
            bench = Bench(fake, bot, http, Arrivals(fake), settings["database_url"])
            (person,) = bench.people.new(1)
            await bench.post(bench.people.command(person, "/start"))
            await bench.arrivals.wait(http, {person: 1}, "message")
            (face,) = await fake.files(http, photo, 1)
            await bench.post(bench.people.photo(person, face, len(photo), "/setface me"))
            await saved_faces(bench, 1)
            await agree_to_terms(bench)
            warm_up, *timed = await fake.files(http, photo, repeat + 1)
            await _result_ms(bench, person, warm_up, len(photo))
            before, credits = await bench.sql_settled(), await _credits_left(bench)
            latencies = [await _result_ms(bench, person, file, len(photo)) for file in timed]
            after = await bench.sql_settled()
            charged = credits - await _credits_left(bench)
            if charged != repeat * SWAP_COST:  # a picker's preview is a photo too: each must be a swap
                raise RuntimeError(f"{repeat} photos cost {charged} credits, not {repeat * SWAP_COST}")
    finally:
        bot.stop()
    return ThroughTheBot(latencies, Statements.between(f"{repeat} photos", repeat, before, after))


@dataclass
class Reference:
    swap_ms: float  # engine.pipeline.swap: detect and swap
    decode_ms: float
    detect_ms: float
    identity_ms: float  # one face's landmarks, chip and descriptor
    guard_ms: float | None  # one check; None when the guard is off for want of its model
    guard_state: str


def _bare_engine(photo: bytes, folder: Path, repeat: int) -> Reference:
    engine = ClassicEngine()
    image = decode_image(photo)
    saved = to_stored(pipeline.source_identity(engine, image))
    source = from_stored(saved, engine.embedding_model)
    (face,) = engine.detect(image, embed=False)  # the photo has one face, or this fails
    guard = load_guard(GuardSpec(), guard_models(folder), DEFAULT_PROVIDERS)
    return Reference(
        swap_ms=median_ms(lambda: pipeline.swap(engine, source, image), repeat),
        decode_ms=median_ms(lambda: decode_image(photo), repeat),
        detect_ms=median_ms(lambda: engine.detect(image, embed=False), repeat),
        identity_ms=median_ms(lambda: engine.identity(image, face), repeat),
        guard_ms=median_ms(lambda: guard.check(image, "input"), repeat) if guard.active else None,
        guard_state=guard.state,
    )


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def report(bot: ThroughTheBot, reference: Reference) -> None:
    median = statistics.median(bot.latencies_ms)
    guard = f"{reference.guard_ms:.0f} ms" if reference.guard_ms is not None else "off"
    print(
        f"update -> result median {median:.0f} ms, p90 {_p90(bot.latencies_ms):.0f} ms "
        f"({len(bot.latencies_ms)} photos one by one) = {median / reference.swap_ms:.1f}x the bare engine "
        f"swap ({reference.swap_ms:.0f} ms: engine.pipeline.swap, detect + swap, from a saved identity)"
    )
    print(
        f"  the parts, each once: decode {reference.decode_ms:.1f} ms, detect {reference.detect_ms:.0f} ms, "
        f"identity (landmarks, chip, descriptor) {reference.identity_ms:.0f} ms, guard check {guard}"
    )
    print(f"  content guard: {reference.guard_state}")
    print(statements_line(bot.statements))


async def main(repeat: int) -> None:
    photo = astronaut_jpeg()
    print(
        f"one one-face photo (skimage astronaut, 512 x 512 JPEG, {len(photo) // 1024} KB) {repeat} times, "
        "through the Telegram bot, embedded (SQLite, in-process runner), classic engine (dlib, hog)"
    )
    print(f"{os.cpu_count()} CPUs; times from the webhook POST to the result photo at the fake Bot API")
    fake = Fake.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            bot = await _through_the_bot(fake, Path(folder), photo, repeat)
    finally:
        fake.stop()
    with tempfile.TemporaryDirectory() as folder:
        reference = _bare_engine(photo, Path(folder), repeat)
    report(bot, reference)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="photos timed, and reference rounds")
    parser.add_argument("--quick", action="store_true", help="3 photos, 3 reference rounds")
    args = parser.parse_args()
    quiet_logs()
    asyncio.run(main(3 if args.quick else args.repeat))
    sys.exit(0)
