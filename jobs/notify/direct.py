"""Messages to a person outside any job (a payment arrived through the Stripe webhook): a Telegram
message to their private chat (its id is the user's id), a Discord DM. Used by the web process, which
opens these clients only for the platforms it has tokens for."""

from __future__ import annotations

import asyncio

import structlog
from aiogram import Bot
from discord.http import HTTPClient, handle_message_parameters

from jobs.config import DiscordConfig, TelegramConfig
from jobs.platforms import discord as discord_platform
from jobs.platforms import telegram as telegram_platform

log = structlog.get_logger("jobs.notify.direct")


class DirectMessages:
    """``tell(platform, user id, text)``; True when it got through. A platform without a client here,
    a user who blocked the bot or closed their DMs, a platform that is down: False, logged, never
    raised (whatever was being told about has already happened)."""

    def __init__(self, telegram: TelegramConfig | None = None, discord: DiscordConfig | None = None) -> None:
        self._telegram: Bot | None = telegram_platform.telegram_bot(telegram) if telegram else None
        self._discord_config = discord
        if discord is not None:
            discord_platform.set_api_base(discord.api_url)
        self._discord: HTTPClient | None = None
        self._lock = asyncio.Lock()

    async def tell(self, platform: str, external_id: str, text: str) -> bool:
        try:
            if platform == "telegram" and self._telegram is not None:
                await telegram_platform.call(self._telegram.send_message(int(external_id), text))
                return True
            if platform == "discord" and self._discord_config is not None:
                http = await self._discord_client()
                channel = await discord_platform.call(http.start_private_message(int(external_id)))
                with handle_message_parameters(content=text) as params:
                    await discord_platform.call(http.send_message(int(channel["id"]), params=params))
                return True
        except Exception as exc:  # telling is best effort; see the class docstring
            log.info("user not told", platform=platform, user=external_id, error=repr(exc))
            return False
        log.info("no client for the platform: user not told", platform=platform, user=external_id)
        return False

    async def close(self) -> None:
        if self._telegram is not None:
            await self._telegram.session.close()
        if self._discord is not None:
            await self._discord.close()

    async def _discord_client(self) -> HTTPClient:
        async with self._lock:
            if self._discord is None:
                assert self._discord_config is not None
                http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
                try:
                    await discord_platform.call(http.static_login(self._discord_config.token))
                except Exception:
                    await http.close()
                    raise
                self._discord = http
            return self._discord
