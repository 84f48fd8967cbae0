"""A Replicate model as a ``Stylizer``: create a prediction, poll it to the end, download its image.

Uses the official ``replicate`` client, with three things replaced through httpx's public options:

- its retrying transport (10 attempts for GETs on 429/503/504, sleeping any Retry-After however long)
  is bypassed by mounting a plain transport, so retries and the deadline follow ``engine.stylize.base``;
- ``predictions.create`` sends ``timeout=None`` (no limit at all) unless it asks the server to hold the
  request open; a request hook puts ``request_timeout`` on every request, so a hung create ends;
- a response hook turns 408/429/5xx into ``TransientFailure`` carrying Retry-After, which the client's
  own ``ReplicateError`` drops; other 4xx still arrive as ``ReplicateError`` with the service's detail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import httpx
import numpy as np
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.identifier import ModelVersionIdentifier
from replicate.prediction import Prediction

from engine.errors import StylizerError
from engine.stylize.base import (
    CARICATURE_PROMPT,
    Deadline,
    RetryEvent,
    RetryPolicy,
    TransientFailure,
    call_with_retries,
    decode_result,
    fetch_bytes,
    is_transient_status,
    parse_retry_after,
    png_data_uri,
    upload_png,
)

REPLICATE_BASE_URL = "https://api.replicate.com"
TERMINAL = ("succeeded", "failed", "canceled")


class ReplicateStylizer:
    name = "replicate"

    def __init__(
        self,
        *,
        api_token: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        request_timeout: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        poll_interval_s: float = 1.0,
        image_key: str = "image",
        prompt_key: str = "prompt",
        extra_input: Mapping[str, Any] | None = None,
        max_side: int = 1536,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        """``model``: "owner/name:version" (a pinned version) or "owner/name" (the model's latest).

        ``timeout``: seconds one ``stylize`` call may take in all, polling included; ``request_timeout``
        bounds each HTTP request within it. ``image_key``/``prompt_key`` name the model's inputs;
        ``extra_input`` adds model-specific ones. ``base_url`` None means Replicate's own.
        """
        if not api_token:
            raise ValueError("a Replicate API token is required")
        if timeout <= 0 or max_retries < 0 or poll_interval_s <= 0:
            raise ValueError("timeout and poll_interval_s must be positive and max_retries not negative")
        owner, name, version = ModelVersionIdentifier.parse(model)  # ValueError on a malformed reference
        self.model = model
        self._model_name = f"{owner}/{name}"
        self._version = version
        self._timeout = timeout
        self._poll_interval_s = poll_interval_s
        self._policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, on_retry=on_retry)
        self._image_key = image_key
        self._prompt_key = prompt_key
        self._extra_input = dict(extra_input or {})
        self._max_side = max_side
        limit = httpx.Timeout(min(timeout, request_timeout))
        self._transport = httpx.HTTPTransport()
        self._client = Client(
            api_token=api_token,
            base_url=base_url or REPLICATE_BASE_URL,
            timeout=limit,
            mounts={"all://": self._transport},
            event_hooks={"request": [partial(_set_timeout, limit.as_dict())], "response": [_raise_transient]},
        )
        self._http = httpx.Client(follow_redirects=True)

    def stylize(self, image: np.ndarray, prompt: str = CARICATURE_PROMPT) -> np.ndarray:
        given = {
            **self._extra_input,
            self._prompt_key: prompt,
            self._image_key: png_data_uri(upload_png(image, self._max_side)),
        }
        deadline = Deadline(self._timeout)
        prediction = self._retrying(partial(self._create, given), "replicate prediction", deadline)
        try:
            prediction = self._wait(prediction, deadline)
        except StylizerError:
            self._cancel(prediction.id)  # stop paying for a run nobody will collect
            raise
        url = _output_url(prediction.output)
        data = self._retrying(partial(self._download, url), "replicate output download", deadline)
        return decode_result(data, "replicate")

    def close(self) -> None:
        self._transport.close()  # the replicate client's connections: it offers no close of its own
        self._http.close()

    def _retrying(self, attempt: Callable[[float], Any], what: str, deadline: Deadline) -> Any:
        return call_with_retries(
            attempt, service="replicate", what=what, policy=self._policy, deadline=deadline
        )

    def _create(self, given: dict[str, Any], _remaining: float) -> Prediction:
        with _replicate_errors("create the prediction"):
            if self._version:
                return self._client.predictions.create(version=self._version, input=given)
            return self._client.models.predictions.create(model=self._model_name, input=given)

    def _get(self, prediction_id: str, _remaining: float) -> Prediction:
        with _replicate_errors("read the prediction"):
            return self._client.predictions.get(prediction_id)

    def _wait(self, prediction: Prediction, deadline: Deadline) -> Prediction:
        while prediction.status not in TERMINAL:
            if deadline.remaining() <= self._poll_interval_s:
                raise StylizerError(
                    f"replicate prediction {prediction.id} still {prediction.status} "
                    f"after {deadline.seconds:g}s",
                    service="replicate",
                    permanent=False,
                )
            time.sleep(self._poll_interval_s)
            prediction = self._retrying(partial(self._get, prediction.id), "replicate poll", deadline)
        if prediction.status == "failed":
            # The model ran and refused or broke on this input (NSFW filter, no face): same input, same end.
            raise StylizerError(
                f"replicate prediction failed: {prediction.error}", service="replicate", permanent=True
            )
        if prediction.status == "canceled":
            raise StylizerError(
                f"replicate prediction {prediction.id} was canceled", service="replicate", permanent=False
            )
        return prediction

    def _cancel(self, prediction_id: str) -> None:
        # Best effort: the error being raised already says what went wrong.
        with suppress(ReplicateError, TransientFailure, httpx.HTTPError):
            self._client.predictions.cancel(prediction_id)

    def _download(self, url: str, remaining: float) -> bytes:
        return fetch_bytes(self._http, url, remaining, "replicate")


@contextmanager
def _replicate_errors(doing: str) -> Iterator[None]:
    """Map the client's failures of one request: 4xx to permanent errors, the network to transient ones."""
    try:
        yield
    except ReplicateError as exc:
        detail = exc.detail or exc.title or "no detail"
        raise StylizerError(
            f"replicate refused to {doing} ({exc.status}): {detail}", service="replicate", permanent=True
        ) from exc
    except httpx.TransportError as exc:  # timeouts, refused and dropped connections
        raise TransientFailure(f"replicate: {type(exc).__name__}: {exc}") from exc


def _set_timeout(limit: dict[str, float | None], request: httpx.Request) -> None:
    request.extensions["timeout"] = limit


def _raise_transient(response: httpx.Response) -> None:
    if not is_transient_status(response.status_code):
        return
    response.read()
    try:
        body = response.json()
        detail = (body.get("detail") or body.get("title")) if isinstance(body, dict) else None
    except ValueError:
        detail = None
    detail = detail or response.text[:200] or response.reason_phrase
    raise TransientFailure(f"replicate {response.status_code}: {detail}", parse_retry_after(response.headers))


def _output_url(output: object) -> str:
    # Image models answer one URL or a list of them (one per picture); the first is ours.
    if isinstance(output, list) and output:
        output = output[0]
    if isinstance(output, str) and output:
        return output
    raise StylizerError(
        f"replicate model gave no image URL (output {str(output)[:120]!r}): is it an image model?",
        service="replicate",
        permanent=True,
    )
