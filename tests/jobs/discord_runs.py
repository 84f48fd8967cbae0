"""One Discord swap job run to its end through the in-process runner: a red target and a blue source
posted as attachments of the fake, the job answering an interaction. The tests differ in the fetcher
(which URLs it may fetch) and in what they check afterwards."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.texts import Catalogue
from db.base import utcnow
from db.jobs import Delivery, get
from db.models import Job
from db.session import Database
from engine.factory import EngineBundle, EngineSpec
from jobs.client import JobClient
from jobs.execute import Executor
from jobs.fetch import InputFetcher
from jobs.local import LocalRunner
from jobs.notify.discord import DiscordNotifier
from jobs.notify.teller import Teller
from jobs.operations import Operations
from jobs.request import InputRef, JobRequest
from tests.db.conftest import make_user
from tests.fakes.discord_server import FakeDiscord
from tests.jobs.conftest import BLUE, RED, queue_config
from tests.jobs.squares import SquareEngine, picture, png


async def run_discord_swap(
    db: Database, discord: FakeDiscord, notifier: DiscordNotifier, fetcher: InputFetcher
) -> Job:
    """Submit the swap for a user with 2 credits, run it until the runner is idle; the job as it ended.
    The fetcher is closed here, the notifier is the caller's."""
    teller = Teller(db, {"discord": notifier}, Catalogue())
    executor = Executor(
        db,
        Operations(EngineBundle(EngineSpec(), SquareEngine())),
        fetcher,
        teller,
        queue_config(redis_url=None),
    )
    runner = LocalRunner(concurrency=1)
    client = JobClient(db, runner, teller=teller)
    target_url, target_id = discord.add_attachment(png(picture((RED, 20, 20))))
    source_url, source_id = discord.add_attachment(png(picture((BLUE, 50, 30))))
    token, original = discord.interaction()
    user = await make_user(db, balance=2, platform="discord")
    try:
        ticket = await client.submit(
            JobRequest(
                user,
                "swap",
                InputRef.discord(target_url, target_id),
                InputRef.discord(source_url, source_id),
                delivery=Delivery(
                    "discord", "5550002", str(original), token, utcnow() + timedelta(minutes=15)
                ),
            )
        )
        runner.start(executor)
        await asyncio.wait_for(runner.wait_idle(), 30)
    finally:
        await runner.stop()
        executor.close()
        await fetcher.close()
    async with db.session() as session:
        job = await get(session, ticket.job_id)
    assert job is not None
    return job
