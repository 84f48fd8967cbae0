"""The long-running bot processes: open the bots (swapbot/bots.py) and serve until stopped.

``swapbot telegram``, ``swapbot discord`` and ``swapbot run`` call these; the command line turns
their errors into one line (swapbot/cli.py). The web process is swapbot/web.py's ``serve``.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress

from bot.telegram.app import run_polling
from swapbot.bots import discord_from_settings, telegram_from_settings
from swapbot.settings import Settings


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _discord_token(settings: Settings) -> str:
    assert settings.discord_bot_token  # discord_from_settings refuses to open without one
    return settings.discord_bot_token


def run_telegram(settings: Settings, *, migrate: bool) -> None:
    """The Telegram bot by long polling until SIGINT."""

    async def main() -> None:
        async with telegram_from_settings(settings, migrate=migrate) as process:
            _say(f"telegram bot running (long polling, {settings.telegram_api_url})")
            await run_polling(process.telegram.dispatcher, process.telegram.bot)

    asyncio.run(main())


def run_discord(settings: Settings, *, migrate: bool) -> None:
    """The Discord bot over the gateway until SIGINT or SIGTERM."""
    from bot.discord.app import run_gateway  # discord.py is loaded only where a Discord bot runs

    async def main() -> None:
        async with discord_from_settings(settings, migrate=migrate) as discord:
            _say(f"discord bot running ({settings.discord_api_url})")
            await run_gateway(discord, _discord_token(settings))

    asyncio.run(main())


def run_both(settings: Settings) -> None:
    """``swapbot run`` with both tokens: one process, one database, one queue; SIGINT stops both."""
    from bot.discord.app import run_gateway, stop_on_signals

    async def main() -> None:
        async with (
            telegram_from_settings(settings, migrate=True) as process,
            discord_from_settings(settings, services=process.services) as discord,
        ):
            telegram = process.telegram
            _say("telegram (long polling) and discord bots running")
            stop = asyncio.Event()
            stop_on_signals(stop)
            polling = asyncio.create_task(
                run_polling(telegram.dispatcher, telegram.bot, handle_signals=False)
            )
            gateway = asyncio.create_task(run_gateway(discord, _discord_token(settings), stop=stop))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({polling, gateway, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            with suppress(RuntimeError):  # polling already ended
                await telegram.dispatcher.stop_polling()
            stopped.cancel()
            for task in (polling, gateway):
                await task  # the first to fail says why

    asyncio.run(main())
