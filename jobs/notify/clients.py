"""A process's platform clients, opened once where the process is built (``jobs.worker.build_resources``,
``jobs.queue.open_queue``): a notifier per platform it is configured for, and the Telegram ``Bot`` the
input fetcher downloads with as well."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiogram import Bot

from jobs.config import WorkerConfig
from jobs.notify import Markups, Notifier
from jobs.notify.local import LocalNotifier
from jobs.notify.telegram import TelegramNotifier
from jobs.platforms.telegram import telegram_bot as open_telegram_bot


@dataclass
class Clients:
    notifiers: dict[str, Notifier]
    telegram_bot: Bot | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers = []


def open_clients(
    config: WorkerConfig, *, telegram_bot: Bot | None = None, markups: Markups | None = None
) -> Clients:
    """Notifiers for the local folder and every platform ``config`` has a token for. A process that has
    its own ``Bot`` (the Telegram bot) passes it in; it is then left open on ``close``.
    ``markups`` give delivered results their buttons per platform (the face picker's)."""
    markups = markups or {}
    clients = Clients({"local": LocalNotifier()}, telegram_bot)
    if telegram_bot is None and config.telegram is not None:
        clients.telegram_bot = open_telegram_bot(config.telegram)
        clients.closers.append(clients.telegram_bot.session.close)
    if clients.telegram_bot is not None:
        clients.notifiers["telegram"] = TelegramNotifier(clients.telegram_bot, markups.get("telegram"))
    if config.discord is not None:
        # Only a process configured for Discord imports discord.py.
        from jobs.notify.discord import DiscordNotifier
        from jobs.platforms.discord import set_api_base

        set_api_base(config.discord.api_url)
        discord = DiscordNotifier(config.discord, markups.get("discord"))
        clients.notifiers["discord"] = discord
        clients.closers.append(discord.close)
    return clients
