"""OpenAI image edits (``gpt-image-1`` by default) as a ``Stylizer``.

Uses the official ``openai`` client with its own retries turned off (``max_retries=0``): retries,
backoff and the deadline follow ``engine.stylize.base`` so both stylizers behave alike and every attempt
gets only the time left of the call's budget.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal, TypedDict

import httpx
import numpy as np
import openai
from openai.types import ImagesResponse

from engine.errors import StylizerError
from engine.stylize.base import (
    CARICATURE_PROMPT,
    Deadline,
    RetryEvent,
    RetryPolicy,
    TransientFailure,
    call_with_retries,
    decode_base64,
    decode_result,
    fetch_bytes,
    is_transient_status,
    parse_retry_after,
    upload_png,
)

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-image-1"


class _EditOptions(TypedDict, total=False):
    """The optional ``images.edit`` arguments we set: typed so the call matches its non-streaming overload."""

    size: str
    # Passed through as configured (the client types it as a Literal): the service judges the value.
    quality: Any
    response_format: Literal["url", "b64_json"]


class OpenAIStylizer:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        size: str | None = None,
        quality: str | None = None,
        max_side: int = 1536,
        organization: str | None = None,
        project: str | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        """``timeout``: seconds one ``stylize`` call may take in all; ``max_retries``: per step.

        ``size``/``quality`` are passed on when set (the service picks otherwise); ``max_side`` shrinks
        large photos before upload. ``base_url`` None means OpenAI's own.
        """
        if not api_key:
            raise ValueError("an OpenAI API key is required")
        if timeout <= 0 or max_retries < 0:
            raise ValueError("timeout must be positive and max_retries not negative")
        self.model = model
        self._timeout = timeout
        self._policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, on_retry=on_retry)
        self._max_side = max_side
        self._options: _EditOptions = {}
        if size is not None:
            self._options["size"] = size
        if quality is not None:
            self._options["quality"] = quality
        if model.startswith("dall-e"):
            # GPT image models always answer base64 and refuse this parameter; DALL·E defaults to URLs.
            self._options["response_format"] = "b64_json"
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url or OPENAI_BASE_URL,
            organization=organization,
            project=project,
            timeout=timeout,
            max_retries=0,
        )
        self._http = httpx.Client(follow_redirects=True)

    def stylize(self, image: np.ndarray, prompt: str = CARICATURE_PROMPT) -> np.ndarray:
        png = upload_png(image, self._max_side)
        deadline = Deadline(self._timeout)
        answer = call_with_retries(
            partial(self._edit, png, prompt),
            service="openai",
            what="openai image edit",
            policy=self._policy,
            deadline=deadline,
        )
        item = answer.data[0] if answer.data else None
        if item is not None and item.b64_json:
            data = decode_base64(item.b64_json, "openai")
        elif item is not None and item.url:
            data = call_with_retries(
                partial(self._download, item.url),
                service="openai",
                what="openai image download",
                policy=self._policy,
                deadline=deadline,
            )
        else:
            raise StylizerError("openai answered without an image", service="openai", permanent=False)
        return decode_result(data, "openai")

    def close(self) -> None:
        self._client.close()
        self._http.close()

    def _edit(self, png: bytes, prompt: str, remaining: float) -> ImagesResponse:
        try:
            return self._client.images.edit(
                image=("image.png", png, "image/png"),
                prompt=prompt,
                model=self.model,
                n=1,
                timeout=remaining,
                **self._options,
            )
        except openai.APIStatusError as exc:
            raise _status_failure(exc) from exc
        except openai.APIConnectionError as exc:  # APITimeoutError included
            raise TransientFailure(f"openai: {type(exc).__name__}: {exc}") from exc

    def _download(self, url: str, remaining: float) -> bytes:
        return fetch_bytes(self._http, url, remaining, "openai")


def _status_failure(exc: openai.APIStatusError) -> Exception:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    message = message or (body if isinstance(body, str) and body else exc.message)
    code = f", {exc.code}" if exc.code else ""
    # A 429 for an exhausted quota stays until someone pays: waiting does not help.
    if is_transient_status(exc.status_code) and exc.code != "insufficient_quota":
        retry_after = parse_retry_after(exc.response.headers)
        return TransientFailure(f"openai {exc.status_code}{code}: {message}", retry_after)
    return StylizerError(
        f"openai refused the edit ({exc.status_code}{code}): {message}", service="openai", permanent=True
    )
