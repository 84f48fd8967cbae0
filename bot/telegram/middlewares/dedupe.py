"""A duplicate update is handled once: the same ``update_id`` (Telegram re-sending after a timeout, a
second webhook delivery) or the same message in another update (a restart that re-reads the queue)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, Update

from bot.services import Services

# Telegram keeps undelivered updates for 24 hours: a duplicate can come that late.
DEDUPE_TTL_S = 86_400.0


class DedupeMiddleware(BaseMiddleware):
    """Outer middleware on updates, before any database work."""

    def __init__(self, ttl_s: float = DEDUPE_TTL_S) -> None:
        self.ttl_s = ttl_s

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        services: Services = data["services"]
        bot: Bot = data["bot"]
        # One key, one round trip: a message's key covers its update's too (the same update again is
        # the same message again), so only updates without a message are keyed by ``update_id``.
        message = event.message
        if message is not None:
            key = f"tg:{bot.id}:message:{message.chat.id}:{message.message_id}"
        else:
            key = f"tg:{bot.id}:update:{event.update_id}"
        if not await services.once.first(key, self.ttl_s):
            return None
        return await handler(event, data)
