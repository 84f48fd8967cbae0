"""Who is talking: the user is got or created (free credits on first contact), a banned user gets one
answer and then silence, and handlers get ``user`` (db.models.User) and ``new_user`` (bool); ``t`` is
the language middleware's (bot/telegram/middlewares/i18n.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import Chat, TelegramObject, Update
from aiogram.types import User as TelegramUser

from bot.people import enter, first_ban_notice, translator
from bot.services import Services
from db.models import User

BANNED = "banned"


class UserMiddleware(BaseMiddleware):
    """Outer middleware on updates, after aiogram's own (which finds ``event_from_user``)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot:  # channel posts and the like: nobody to serve
            return None
        services: Services = data["services"]
        entry = await enter(
            services,
            "telegram",
            sender.id,
            display_name=sender.full_name,
            language=sender.language_code,
            maybe_new=_starts(event),
        )
        if entry.user.is_banned and not _pays(event):
            # The one sentence said before the language middleware (which injects ``t``) would run.
            text = translator(services, entry.user.language)(BANNED)
            await _refuse(event, data, services, entry.user, text)
            return None
        data["user"] = entry.user
        data["new_user"] = entry.created
        return await handler(event, data)


def _starts(event: TelegramObject) -> bool:
    """/start: what Telegram sends for a person's first contact (its Start button)."""
    if not isinstance(event, Update) or event.message is None or not event.message.text:
        return False
    command = event.message.text.split(maxsplit=1)[0]
    return command == "/start" or command.startswith("/start@")


def _pays(event: TelegramObject) -> bool:
    """A successful payment: the money is already taken, so even a user banned since the pre-checkout
    is credited (an admin can refund); refusing it would keep their money and give nothing."""
    return (
        isinstance(event, Update)
        and event.message is not None
        and event.message.successful_payment is not None
    )


async def _refuse(
    event: TelegramObject, data: dict[str, Any], services: Services, user: User, text: str
) -> None:
    """A pre-checkout query is always refused with the reason (Telegram waits for an answer); anything
    else gets the answer once."""
    bot: Bot = data["bot"]
    if isinstance(event, Update) and event.pre_checkout_query is not None:
        await bot.answer_pre_checkout_query(event.pre_checkout_query.id, ok=False, error_message=text)
        return
    if not await first_ban_notice(services, user):
        return
    if isinstance(event, Update) and event.callback_query is not None:
        await bot.answer_callback_query(event.callback_query.id, text=text, show_alert=True)
        return
    chat: Chat | None = data.get("event_chat")
    if chat is not None:
        await bot.send_message(chat.id, text)
