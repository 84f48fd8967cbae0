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
from jobs.notify import Markups
from jobs.notify.clients import Clients, open_clients
from jobs.notify.teller import Teller
from jobs.texts import Texts
from jobs.transport import Transport
from jobs.worker import EngineFactory, Resources, build_resources, default_engine


@dataclass
class Queue:
    client: JobClient
    transport: Transport
    resources: Resources | None = None  # only when jobs run in this process
    clients: Clients | None = None  # the platform clients, when there are no resources to hold them

    async def close(self) -> None:
        """Stop the runner first (running jobs go back to queued), then the crons and clients."""
        await self.transport.close()
        if self.resources is not None:
            await self.resources.close()
        if self.clients is not None:
            await self.clients.close()


async def open_queue(
    config: WorkerConfig,
    *,
    db: Database,
    telegram_bot: Bot | None = None,
    texts: Texts,
    engine_factory: EngineFactory = default_engine,
    markups: Markups | None = None,
) -> Queue:
    """A client for ``config.queue``; ``db`` and ``telegram_bot`` are the bot's own, shared;
    ``markups`` give delivered results their buttons per platform (the face picker's)."""
    if config.queue.redis_url:
        transport = await ArqTransport.connect(config.queue.redis_url, config.queue.queue_name)
        clients = open_clients(config, telegram_bot=telegram_bot, markups=markups)
        client = JobClient(db, transport, teller=Teller(db, clients.notifiers, texts))
        return Queue(client, transport, clients=clients)
    # On close, the jobs already asked for finish first: no other worker would run them.
    runner = LocalRunner(concurrency=config.queue.concurrency, grace_s=config.queue.shutdown_grace_s)
    resources = await build_resources(
        config,
        runner,
        engine_factory=engine_factory,
        texts=texts,
        crons=True,
        db=db,
        telegram_bot=telegram_bot,
        markups=markups,
    )
    runner.start(resources.executor)
    await resources.sweeper.sweep(lost_after_s=0)  # what the last run left queued
    client = JobClient(db, runner, teller=resources.teller)
    return Queue(client, runner, resources)
