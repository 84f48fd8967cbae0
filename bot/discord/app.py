"""Running the Discord bot: log in over REST (setup_hook loads the cogs and syncs the commands), find
the gateway (an API that is not Discord's says where its own is), and hold the websocket until told to
stop (SIGINT/SIGTERM, or the caller's event), then close cleanly."""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress

import structlog

from bot.discord.client import SwapBot
from jobs.platforms.discord import point_gateway

log = structlog.get_logger("bot.discord")


def stop_on_signals(stop: asyncio.Event) -> list[signal.Signals]:
    """SIGINT and SIGTERM set ``stop``; returns the signals to release afterwards."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    return installed


async def run_gateway(bot: SwapBot, token: str, *, stop: asyncio.Event | None = None) -> None:
    """Serve interactions until ``stop`` is set (by default: until SIGINT or SIGTERM). A connection that
    ends by itself (a refused token) raises its error."""
    own_stop = stop is None
    stop = stop or asyncio.Event()
    installed = stop_on_signals(stop) if own_stop else []
    try:
        await bot.login(token)
        await point_gateway(bot.http)
        connection = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
        stopping = asyncio.create_task(stop.wait(), name="discord-stop")
        await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if connection.done():
            connection.result()  # raises what ended it
            return
        log.info("discord bot stopping")
        await bot.close()
        with suppress(asyncio.CancelledError):
            await connection
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        if not bot.is_closed():
            await bot.close()
