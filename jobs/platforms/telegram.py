"""Telegram plumbing: the aiogram ``Bot`` for a ``TelegramConfig`` (the workers' notifier and input
fetcher, and the Telegram bot, all use this one factory), its failures sorted by ``call``, and
aiogram's response types kept alive."""

from __future__ import annotations

from collections.abc import Awaitable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
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

from jobs.config import TelegramConfig
from jobs.errors import ChatUnavailable, DeliveryError
from jobs.metrics import counted

if TYPE_CHECKING:
    from aiogram.methods.base import TelegramType

T = TypeVar("T")

# The calls whose parsed-response classes each session keeps alive (``_Session``).
PINNED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    GetFile,
    SendMessage,
    SendPhoto,
    SendDocument,
    EditMessageText,
)


class _Session(AiohttpSession):
    """aiogram's session, except that a 5xx whose body is not the Bot API's JSON (the HTML error page of
    a front proxy) is a ``TelegramServerError`` like any other 5xx, not a ``ClientDecodeError``: the
    platform is down for a moment, nothing is wrong with the request.

    It also keeps aiogram's parsed-response classes alive. aiogram builds ``Response[<result type>]`` (a
    pydantic generic) for every call; pydantic caches those classes weakly, so in a busy process the
    garbage collector keeps dropping them and calls rebuild one, several milliseconds of CPU each
    (measured: a third of all calls did). The session's strong references keep pydantic's cache warm
    for as long as the ``Bot`` lives, which is the process's life."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.response_types: dict[type, Any] = {
            method: Response[method.__returning__]  # type: ignore[name-defined]
            for method in PINNED_METHODS
        }

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError as exc:
            if status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
                raise
            raise TelegramServerError(method, f"HTTP {status_code} without the Bot API's answer") from exc


def telegram_bot(config: TelegramConfig) -> Bot:
    """A ``Bot`` talking to ``config.api_url`` (api.telegram.org, a local Bot API server, a fake)."""
    api = TelegramAPIServer.from_base(config.api_url.rstrip("/"))
    return Bot(config.token, session=_Session(api=api, timeout=config.timeout_s))


async def call(request: Awaitable[T]) -> T:
    """One Bot API call, its failures sorted into "later" (DeliveryError) and "never" (ChatUnavailable).
    A bad request is left to the caller: a refused photo, a harmless edit, or a dead chat."""
    try:
        return await counted("telegram", error_code, request)
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
        raise
    except TelegramAPIError as exc:
        raise DeliveryError(f"telegram: {exc.message}") from exc
    except (TimeoutError, OSError) as exc:
        raise DeliveryError(f"telegram unreachable: {type(exc).__name__}") from exc


# Bot API failures by the HTTP status Telegram answered with (aiogram's exception classes), for the
# metrics' code label; the first match wins, so subclasses come before their bases.
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (TelegramRetryAfter, "429"),
    (TelegramUnauthorizedError, "401"),
    (TelegramForbiddenError, "403"),
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramBadRequest, "400"),
    (TelegramMigrateToChat, "400"),
    (TelegramServerError, "5xx"),
    (TelegramNetworkError, "network"),
    (TimeoutError, "network"),
    (OSError, "network"),
)


def error_code(exc: BaseException) -> str:
    return next((code for kind, code in _CODES if isinstance(exc, kind)), "other")
