"""Telegram delivery through aiogram's ``Bot``, against the configured Bot API server.

Results go out with sendPhoto, or sendDocument when the picture exceeds the photo limits (or Telegram
refuses it as a photo). The reference kept for re-sending is the file_id Telegram gives back.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import EditMessageText, GetFile, SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BufferedInputFile, ReplyParameters

from jobs.config import TelegramConfig
from jobs.errors import ChatUnavailable, DeliveryError
from jobs.notify import Target
from jobs.results import Result

T = TypeVar("T")
RESULT_NAME = "result.jpg"
# Bad requests that mean "send it as a file instead": Telegram's photo checks are stricter than ours.
_PHOTO_REFUSED = ("PHOTO_INVALID_DIMENSIONS", "PHOTO_SAVE_FILE_INVALID", "IMAGE_PROCESS_FAILED", "too big")
# Bad requests on a status edit that are no reason to fail a job.
_EDIT_HARMLESS = ("message is not modified", "message to edit not found", "message can't be edited")


_PINNED: dict[type, type] = {}


def pin_response_types(*methods: type[TelegramMethod[object]]) -> None:
    """Keep aiogram's parsed-response classes alive. aiogram builds ``Response[<result type>]`` (a pydantic
    generic) for every call; pydantic caches those classes weakly, so in a busy process the garbage
    collector keeps dropping them and calls rebuild one, several milliseconds of CPU each (measured: a
    third of all calls did). A strong reference here keeps pydantic's cache warm."""
    for method in methods:
        if method not in _PINNED:
            _PINNED[method] = Response[method.__returning__]  # type: ignore[name-defined]


pin_response_types(GetFile, SendMessage, SendPhoto, SendDocument, EditMessageText)


def telegram_bot(config: TelegramConfig, *, timeout_s: float = 60.0) -> Bot:
    """A ``Bot`` talking to ``config.api_url`` (api.telegram.org, a local Bot API server, a fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.api_url.rstrip("/")), timeout=timeout_s)
    return Bot(config.token, session=session)


async def call(request: Awaitable[T]) -> T:
    """One Bot API call, its failures sorted into "later" (DeliveryError) and "never" (ChatUnavailable)."""
    try:
        return await request
    except TelegramRetryAfter as exc:
        raise DeliveryError(
            f"telegram asked to wait: {exc.message}", retry_after=float(exc.retry_after)
        ) from exc
    except TelegramForbiddenError as exc:  # "bot was blocked by the user", kicked from the group
        raise ChatUnavailable(f"telegram: {exc.message}") from exc
    except TelegramMigrateToChat as exc:
        raise ChatUnavailable(f"telegram: the group moved to chat {exc.migrate_to_chat_id}") from exc
    except (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError) as exc:
        raise DeliveryError(f"telegram: {exc.message}") from exc
    except TelegramNotFound as exc:
        raise ChatUnavailable(f"telegram: {exc.message}") from exc
    except TelegramBadRequest:
        raise  # the caller decides: a refused photo, a harmless edit, or a dead chat
    except TelegramAPIError as exc:
        raise DeliveryError(f"telegram: {exc.message}") from exc
    except (TimeoutError, OSError) as exc:
        raise DeliveryError(f"telegram unreachable: {type(exc).__name__}") from exc


class TelegramNotifier:
    platform = "telegram"

    def __init__(self, bot: Bot, *, owns_bot: bool = False) -> None:
        self.bot = bot
        self._owns_bot = owns_bot

    async def status(self, target: Target, text: str) -> None:
        if target.message is None:
            return
        try:
            await call(
                self.bot.edit_message_text(text=text, chat_id=target.chat, message_id=int(target.message))
            )
        except TelegramBadRequest as exc:
            if any(phrase in exc.message for phrase in _EDIT_HARMLESS):
                return
            raise ChatUnavailable(f"telegram: {exc.message}") from exc

    async def notice(self, target: Target, text: str) -> None:
        if target.message is not None:
            await self.status(target, text)
            return
        try:
            await call(self.bot.send_message(target.chat, text))
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc

    async def deliver(self, target: Target, result: Result, caption: str) -> str:
        if result.photo is not None:
            try:
                sent = await call(
                    self.bot.send_photo(
                        target.chat,
                        BufferedInputFile(result.photo, RESULT_NAME),
                        caption=caption or None,
                        reply_parameters=self._reply(target),
                    )
                )
            except TelegramBadRequest as exc:
                if not any(marker in exc.message for marker in _PHOTO_REFUSED):
                    raise ChatUnavailable(f"telegram: {exc.message}") from exc
            else:
                assert sent.photo, "sendPhoto answered without a photo"
                return f"photo:{sent.photo[-1].file_id}"
        try:
            sent = await call(
                self.bot.send_document(
                    target.chat,
                    BufferedInputFile(result.data, RESULT_NAME),
                    caption=caption or None,
                    reply_parameters=self._reply(target),
                )
            )
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc
        assert sent.document is not None, "sendDocument answered without a document"
        return f"document:{sent.document.file_id}"

    async def resend(self, target: Target, ref: str, caption: str) -> str:
        kind, _, file_id = ref.partition(":")
        try:
            if kind == "photo":
                await call(self.bot.send_photo(target.chat, file_id, caption=caption or None))
            elif kind == "document":
                await call(self.bot.send_document(target.chat, file_id, caption=caption or None))
            else:
                raise ValueError(f"not a Telegram result reference: {ref!r}")
        except TelegramBadRequest as exc:
            raise ChatUnavailable(f"telegram: {exc.message}") from exc
        return ref

    async def close(self) -> None:
        if self._owns_bot:
            await self.bot.session.close()

    @staticmethod
    def _reply(target: Target) -> ReplyParameters | None:
        # Answer the status message; if the user deleted it, send anyway rather than fail.
        if target.message is None:
            return None
        return ReplyParameters(message_id=int(target.message), allow_sending_without_reply=True)
