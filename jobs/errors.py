"""What can stop a job attempt, reduced to two questions: which ``code`` is stored on the job (the bot
turns it into a reply), and is trying again worth it (``transient``)?"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from db.errors import DbError
from engine.errors import EngineError


class JobFailure(Exception):
    """A failed attempt. ``retry_after``: the remote side asked us to wait this many seconds.
    ``params`` fill the catalogue's sentence for ``code``; ``detail`` is for logs and the job row."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        transient: bool,
        retry_after: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.params: dict[str, Any] = params or {}
        self.detail = detail or code.replace("_", " ")
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(self.detail)


class InputUnavailable(JobFailure):
    """The input cannot be had: deleted, expired, never existed, or refused by its host."""

    def __init__(self, detail: str) -> None:
        super().__init__("input_unavailable", detail, transient=False)


class InputTooLarge(JobFailure):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            "input_too_large", f"the file has {size} bytes, at most {limit} are taken", transient=False
        )


class DeliveryError(JobFailure):
    """The platform did not take the result or status now (5xx, 429, network); try again later."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__("delivery_failed", detail, transient=True, retry_after=retry_after)


class ChatUnavailable(JobFailure):
    """The chat will never take it: the user blocked the bot, left, or the channel is gone."""

    def __init__(self, detail: str) -> None:
        super().__init__("undelivered", detail, transient=False)


# Saved-face problems found by the worker: the face was deleted or saved with another engine.
_PERMANENT_DB_CODES = frozenset({"face_not_found", "embedding_missing", "user_not_found"})


def classify(exc: BaseException) -> JobFailure:
    """Every exception an attempt can raise, as a ``JobFailure``. Unknown errors count as transient:
    a crashed driver or a full GPU often works next time, and ``max_tries`` bounds the cost."""
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, EngineError):
        return JobFailure(exc.code, str(exc), transient=not exc.permanent, params=exc.params)
    if isinstance(exc, DbError) and exc.code in _PERMANENT_DB_CODES:
        return JobFailure(exc.code, str(exc), transient=False)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return JobFailure("timeout", "the job took too long", transient=True)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return JobFailure("network", f"{type(exc).__name__}: {exc}", transient=True)
    return JobFailure("internal_error", f"{type(exc).__name__}: {exc}", transient=True)
