"""A per-user token bucket on messages and button presses, and the daily cap on work: over the
bucket, the user is told once politely how long to wait ("wait N s") and the update is dropped; over
the day's cap, a photo (or file, or /swap and /caricature in reply to one) is refused with when to
come back. Every piece of work starts from such a message (a picker's button continues work already
counted), so the cap is counted here, once, and the flows need not. Payments are never throttled."""

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
        verdict = await services.limiter.hit(limit_key(user), daily=is_work(event))
        if verdict.allowed:
            return await handler(event, data)
        # Told once per wait (at most a minute): a flood of messages does not become a flood of answers.
        told = f"throttled:{verdict.reason}:{limit_key(user)}"
        if await services.once.first(told, min(max(1.0, verdict.retry_after_s), 60.0)):
            t: Translate = data["t"]
            text = refusal(t, verdict)
            if isinstance(event, (CallbackQuery, Message)):
                await event.answer(text)
        elif isinstance(event, CallbackQuery):
            await event.answer()  # stop the button's spinner
        return None


WORK_COMMANDS = ("/swap", "/caricature", "/setface")


def is_work(event: TelegramObject) -> bool:
    """A message that starts work on the queue: a photo, a file, an album's photo, or a work command
    in reply to a photo."""
    if not isinstance(event, Message):
        return False
    if event.photo or event.document:
        return True
    command = (event.text or "").split(maxsplit=1)[0].split("@")[0].lower() if event.text else ""
    replied = event.reply_to_message
    return command in WORK_COMMANDS and replied is not None and bool(replied.photo or replied.document)
