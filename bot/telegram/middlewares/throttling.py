"""A per-user token bucket on messages and button presses, and the daily cap on work: over the
bucket, the user is told once politely how long to wait ("wait N s") and the update is dropped; over
the day's cap, a photo (or file, or /swap and /caricature in reply to one) is refused with when to
come back. Every piece of work starts from such a message (a picker's button continues work already
counted), so the cap is counted here, once, and the flows need not. Payments are never throttled.

It is an inner middleware: it runs only for an update some handler's filters took, so what no
handler takes (photos shared in a group without a command) costs no bucket and gets no "please
wait". What counts as work is the handler's own ``WORK`` flag, not a second copy of its filters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.people import Translate, limit_key, refusal
from bot.services import Services
from bot.telegram.photos import photo_of
from db.models import User

# The handler flag of message handlers that turn a message carrying a photo (or replying to one) into
# work on the queue: ``@router.message(..., flags=WORK)``.
WORK = {"work": True}


class ThrottlingMiddleware(BaseMiddleware):
    """Inner middleware on ``message`` and ``callback_query``: after the outer ones (user, language)
    and after a handler's filters matched."""

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
        verdict = await services.limiter.hit(limit_key(user), daily=is_work(event, data))
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


def is_work(event: TelegramObject, data: dict[str, Any]) -> bool:
    """A message that starts work on the queue: its handler says it does work (``WORK``), and it
    carries a photo or a file, or replies to one (``/swap`` as a reply; ``/swap`` alone asks for a
    photo and is no work yet)."""
    if not isinstance(event, Message) or not get_flag(data, "work"):
        return False
    return photo_of(event) is not None or photo_of(event.reply_to_message) is not None
