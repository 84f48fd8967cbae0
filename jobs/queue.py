"""The queue as the bot process sees it: ``open_queue`` gives a ``JobClient`` either way.

With ``REDIS_URL`` jobs go to ARQ and separate ``swapbot worker`` processes run them. Without it (the
embedded default) this process runs them itself with the in-process runner, the same task function,
the engine loaded here, and the crons beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot

from db.session import Database
from jobs.arq_transport import ArqTransport
from jobs.client import JobClient
from jobs.config import WorkerConfig
from jobs.local import LocalRunner
from jobs.notify import Notifier
from jobs.notify.telegram import TelegramNotifier
from jobs.texts import Texts
from jobs.transport import Transport
from jobs.worker import EngineFactory, Resources, build_resources, default_engine


@dataclass
class Queue:
    client: JobClient
    transport: Transport
    resources: Resources | None = None  # only when jobs run in this process
    runner: LocalRunner | None = None

    async def close(self) -> None:
        """Stop the runner first (running jobs go back to queued), then the crons and clients."""
        await self.transport.close()
        if self.resources is not None:
            await self.resources.close()
        else:
            for notifier in self.client.notifiers.values():
                await notifier.close()


async def open_queue(
    config: WorkerConfig,
    *,
    db: Database,
    telegram_bot: Bot | None = None,
    texts: Texts,
    engine_factory: EngineFactory = default_engine,
) -> Queue:
    """A client for ``config.queue``; ``db`` and ``telegram_bot`` are the bot's own, shared."""
    if config.queue.redis_url:
        transport = await ArqTransport.connect(config.queue.redis_url, config.queue.queue_name)
        notifiers: dict[str, Notifier] = {}
        if telegram_bot is not None:
            notifiers["telegram"] = TelegramNotifier(telegram_bot)
        if config.discord is not None:
            from jobs.notify.discord import DiscordNotifier

            notifiers["discord"] = DiscordNotifier(config.discord)
        return Queue(JobClient(db, transport, texts=texts, notifiers=notifiers), transport)
    runner = LocalRunner(concurrency=config.queue.concurrency)
    resources = await build_resources(
        config,
        runner,
        engine_factory=engine_factory,
        texts=texts,
        crons=True,
        db=db,
        telegram_bot=telegram_bot,
    )
    runner.start(resources.executor)
    await resources.sweeper.sweep(lost_after_s=0)  # what the last run left queued
    client = JobClient(db, runner, texts=texts, notifiers=resources.notifiers)
    return Queue(client, runner, resources, runner)
