"""A handler that raises: the person gets a short sentence (the error's own code when the catalogue has
one, a generic apology otherwise), the error is logged with ids only, and the bot keeps serving."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.types import Chat, ErrorEvent
from aiogram.types import User as TelegramUser

from bot.people import Translate, translator
from bot.services import Services
from bot.texts import DEFAULT_LANGUAGE
from db.errors import DbError
from jobs.errors import error_params

log = logging.getLogger(__name__)


APOLOGY = "sorry_error"


async def apologise(event: ErrorEvent, bot: Bot, services: Services, **data: Any) -> None:
    update = event.update
    log.error(
        "update %s failed: %s", update.update_id, type(event.exception).__name__, exc_info=event.exception
    )
    t = _translate(services, data)
    text = _sentence(services, t, event.exception)
    try:
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text=text, show_alert=True)
        elif update.pre_checkout_query is not None:
            await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=False, error_message=text)
        else:
            chat: Chat | None = data.get("event_chat")
            if chat is not None:
                await bot.send_message(chat.id, text)
    except Exception as exc:  # the apology itself failed (chat gone, Telegram down): log and go on
        log.warning("could not apologise for update %s: %s", update.update_id, type(exc).__name__)


def _translate(services: Services, data: dict[str, Any]) -> Translate:
    t: Translate | None = data.get("t")
    if t is not None:
        return t
    sender: TelegramUser | None = data.get("event_from_user")  # failed before the user was known
    return translator(services, sender.language_code if sender else DEFAULT_LANGUAGE)


def _sentence(services: Services, t: Translate, exc: BaseException) -> str:
    """A data-layer error with a sentence of its own (no credits, face not found) says that."""
    if isinstance(exc, DbError) and exc.code in services.texts.languages[DEFAULT_LANGUAGE]:
        return t(exc.code, **error_params(exc))
    return t(APOLOGY)


def build() -> Router:
    router = Router(name="errors")
    router.errors()(apologise)
    return router
