"""Every line logged while an update is handled names it: ``update_id``, the sender's Telegram id, and
(after ``UserMiddleware``) our user id, bound in the update's task's structlog contextvars."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update


class LogContextMiddleware(BaseMiddleware):
    """Outer middleware on updates; registered first (the update and its sender) and again after
    ``UserMiddleware`` (our user id, from the ``user`` it injects). Each update runs in a task of its
    own (polling) or a request's task (webhook), so the binding ends with it."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        context: dict[str, Any] = {}
        if isinstance(event, Update):
            context["update_id"] = event.update_id
        sender = data.get("event_from_user")
        if sender is not None:
            context["telegram_user_id"] = sender.id
        user = data.get("user")
        if user is not None:
            context["user_id"] = user.id
        with structlog.contextvars.bound_contextvars(**context):
            return await handler(event, data)
