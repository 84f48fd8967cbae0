"""A per-user token bucket on messages and button presses: over the limit, the user is told once
politely how long to wait ("wait N s") and the update is dropped. Payments are never throttled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.people import Translate, limit_key, refusal
from bot.services import Services
from db.models import User


class ThrottlingMiddleware(BaseMiddleware):
    """Outer middleware on ``message`` and ``callback_query`` (after the user middleware)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("user")
        if user is None or (isinstance(event, Message) and event.successful_payment is not None):
            return await handler(event, data)
        services: Services = data["services"]
        verdict = await services.limiter.hit(limit_key(user))
        if verdict.allowed:
            return await handler(event, data)
        # Told once per wait: a flood of messages does not become a flood of answers.
        if await services.once.first(f"throttled:{limit_key(user)}", max(1.0, verdict.retry_after_s)):
            t: Translate = data["t"]
            text = refusal(t, verdict)
            if isinstance(event, (CallbackQuery, Message)):
                await event.answer(text)
        elif isinstance(event, CallbackQuery):
            await event.answer()  # stop the button's spinner
        return None
