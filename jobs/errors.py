"""What can stop a job attempt, reduced to two questions: which ``code`` is stored on the job (the bot
turns it into a reply), and is trying again worth it (``transient``)?"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from db.errors import DbError
from engine.errors import EngineError


def error_params(exc: BaseException) -> dict[str, Any]:
    """The catalogue params of one of our typed errors (the one mapping, for every platform and the
    workers): its ``params`` when it carries them (JobFailure, the engine's and the face refusals), else
    its public plain attributes (db's: ``balance`` and ``needed``, ``name``, ``limit``)."""
    params = getattr(exc, "params", None)
    if isinstance(params, dict):
        return dict(params)
    return {
        key: value
        for key, value in vars(exc).items()
        if key != "code"  # the sentence's own key, never one of its values
        and not key.startswith("_")
        and isinstance(value, (str, int, float))
        and not isinstance(value, bool)
    }


class JobFailure(Exception):
    """A failed attempt. ``code`` is stable (stored on the job, keyed in the catalogue); ``params`` are
    plain values (numbers, short strings) that fill the catalogue's sentence for it; ``detail`` is an
    English line for logs and the job row, never shown to a person. ``retry_after``: the remote side
    asked us to wait this many seconds."""

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

    code = "input_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(self.code, detail, transient=False)


class InputRefused(JobFailure):
    """The input's URL is not one the worker fetches from: not an attachment host, not https, a
    private address, or a redirect elsewhere. Permanent: asking again would be refused again."""

    code = "input_refused"

    def __init__(self, detail: str) -> None:
        super().__init__(self.code, detail, transient=False)


class InputTooLarge(JobFailure):
    """The input file is over the size cap: the same code and params as the engine's own file-size
    check, so the person reads one sentence whichever of the two caught it."""

    code = "file_too_large"

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(
            self.code,
            f"the file has {size} bytes, at most {max_bytes} are taken",
            transient=False,
            params={"size": size, "max_bytes": max_bytes},
        )


class DeliveryError(JobFailure):
    """The platform did not take the result or status now (5xx, 429, network); try again later."""

    code = "delivery_failed"

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(self.code, detail, transient=True, retry_after=retry_after)


class ChatUnavailable(JobFailure):
    """The chat will never take it: the user blocked the bot, left, or the channel is gone."""

    code = "undelivered"

    def __init__(self, detail: str) -> None:
        super().__init__(self.code, detail, transient=False)


# Saved-face problems found by the worker: the face was deleted or saved with another engine.
PERMANENT_DB_CODES = frozenset({"face_not_found", "embedding_missing", "user_not_found"})


def classify(exc: BaseException) -> JobFailure:
    """Every exception an attempt can raise, as a ``JobFailure``. Unknown errors count as transient:
    a crashed driver or a full GPU often works next time, and ``max_tries`` bounds the cost."""
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, EngineError):
        return JobFailure(exc.code, str(exc), transient=not exc.permanent, params=dict(exc.params))
    if isinstance(exc, DbError) and exc.code in PERMANENT_DB_CODES:
        return JobFailure(exc.code, str(exc), transient=False)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return JobFailure("timeout", "the job took too long", transient=True)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return JobFailure("network", f"{type(exc).__name__}: {exc}", transient=True)
    return JobFailure("internal_error", f"{type(exc).__name__}: {exc}", transient=True)
