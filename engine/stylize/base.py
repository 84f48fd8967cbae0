"""Remote stylizers: one protocol, and the rules every implementation shares.

A stylizer sends a photo and a prompt to an image service and returns the picture it draws. The
services fail in the usual ways; the rules here decide what happens then, the same for all of them:

- 429, 408 and 5xx answers, timeouts and dropped connections are *transient*: retried with exponential
  backoff (a server's Retry-After wins), at most ``max_retries`` times per step;
- every other 4xx (bad key, content policy, invalid input) is *permanent*: ``StylizerError(permanent=True)``
  at once, carrying the service's own message;
- one call never outlives its deadline: when retries run out or the deadline passes the call ends with
  ``StylizerError(permanent=False)``, so the job queue may try again later;
- the returned bytes go through ``engine.imageio.decode_image``: a non-image is a typed error too.

Implementations: ``engine.stylize.openai_images.OpenAIStylizer`` and
``engine.stylize.replicate_model.ReplicateStylizer``.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import cv2
import httpx
import numpy as np

from engine.errors import ImageRejected, StylizerError
from engine.imageio import decode_image, encode_png

CARICATURE_PROMPT = (
    "Redraw this photo as a playful hand-drawn caricature. Exaggerate each person's most distinctive "
    "features (nose, chin, ears, smile, hair, eyebrows) while keeping every face clearly recognizable, "
    "with the same expression, pose and clothing. Bold ink outlines, vivid flat colours, a light "
    "sketchbook background. Keep every person in the picture; add no text."
)

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


class Stylizer(Protocol):
    name: str  # "openai", "replicate": stored on jobs, shown in logs

    def stylize(self, image: np.ndarray, prompt: str) -> np.ndarray:
        """The service's drawing of ``image`` (BGR uint8) following ``prompt``, as BGR uint8.

        Synchronous and possibly slow (tens of seconds): workers call it off the event loop.
        Raises ``StylizerError``; its ``permanent`` says whether trying again later can help.
        """
        ...


class TransientFailure(Exception):
    """One attempt failed in a way a later attempt may not; ``retry_after`` is the server's wish, if any."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


@dataclass(frozen=True)
class RetryEvent:
    """Told to ``on_retry`` before each wait, so callers can log or count retries."""

    what: str
    attempt: int  # the attempt that failed, from 1
    wait_s: float
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 1.0  # first wait; doubles with every retry
    max_backoff_s: float = 30.0
    on_retry: Callable[[RetryEvent], None] | None = None

    def wait_s(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        growth: float = 2 ** (failures - 1)  # typeshed: int ** int is Any (a negative power is a float)
        base = min(self.backoff_s * growth, self.max_backoff_s)
        # Jitter spreads the retries of many workers hit by the same outage; 0.75..1 keeps the growth.
        return base * random.uniform(0.75, 1.0)


class Deadline:
    """The wall-clock budget of one ``stylize`` call, retries and polling included."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()


def call_with_retries(
    attempt: Callable[[float], T], *, service: str, what: str, policy: RetryPolicy, deadline: Deadline
) -> T:
    """``attempt(remaining_seconds)`` until it returns, retrying ``TransientFailure`` within the deadline.

    Any other exception (a permanent ``StylizerError`` above all) passes through untouched.
    """
    failures = 0
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise StylizerError(
                f"{what}: no answer within {deadline.seconds:g}s", service=service, permanent=False
            )
        try:
            return attempt(remaining)
        except TransientFailure as exc:
            failures += 1
            if deadline.remaining() <= 0:
                raise StylizerError(
                    f"{what}: no answer within {deadline.seconds:g}s (last error: {exc})",
                    service=service,
                    permanent=False,
                ) from exc
            if failures > policy.max_retries:
                raise StylizerError(
                    f"{what} failed {failures} times: {exc}", service=service, permanent=False
                ) from exc
            wait = policy.wait_s(failures, exc.retry_after)
            if wait >= deadline.remaining():
                raise StylizerError(
                    f"{what}: {exc}; a retry in {wait:g}s would pass the {deadline.seconds:g}s deadline",
                    service=service,
                    permanent=False,
                ) from exc
            if policy.on_retry is not None:
                policy.on_retry(RetryEvent(what, failures, wait, str(exc)))
            time.sleep(wait)


def is_transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asks us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def upload_png(image: np.ndarray, max_side: int) -> bytes:
    """PNG of ``image`` shrunk to fit ``max_side``: lossless, and no larger than the services draw anyway."""
    height, width = image.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return encode_png(image)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def decode_base64(data: str, service: str) -> bytes:
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError) as exc:
        raise StylizerError(
            f"{service} returned an image that is not valid base64", service=service, permanent=False
        ) from exc


def fetch_bytes(http: httpx.Client, url: str, timeout: float, service: str) -> bytes:
    """The body at ``url`` (an http(s) or data: URL) for ``call_with_retries``."""
    if url.startswith("data:"):
        if ";base64," not in url:
            raise StylizerError(
                f"{service} returned a data URL that is not base64", service=service, permanent=False
            )
        return decode_base64(url.split(";base64,", 1)[1], service)
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            if is_transient_status(response.status_code):
                raise TransientFailure(
                    f"{service} download answered {response.status_code}", parse_retry_after(response.headers)
                )
            if response.status_code != 200:
                # The picture exists no more (expired link): drawing it again is the only way.
                raise StylizerError(
                    f"{service} download of the result answered {response.status_code}",
                    service=service,
                    permanent=False,
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise StylizerError(
                        f"{service} result is larger than {MAX_DOWNLOAD_BYTES} bytes",
                        service=service,
                        permanent=False,
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TransportError as exc:  # timeouts, refused and dropped connections
        raise TransientFailure(f"{service} download: {type(exc).__name__}: {exc}") from exc


def decode_result(data: bytes, service: str) -> np.ndarray:
    """The service's bytes as a BGR image; a non-image is a (transient) ``StylizerError``, never a crash."""
    try:
        return decode_image(data)
    except ImageRejected as exc:
        detail = f"{service} returned something that is not a usable image ({exc.reason})"
        raise StylizerError(detail, service=service, permanent=False) from exc
