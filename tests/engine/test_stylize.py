"""Remote stylizers: the real ``openai`` and ``replicate`` clients against local fakes of both services.

The fakes answer with the sent picture mirrored left-right, so a result equal to ``flip(photo)`` proves
the whole round trip (PNG upload, base64 or file download, decoding) kept every pixel and channel.
Retry waits are observed through ``on_retry``: with ``backoff_s`` tiny, a one-second wait can only be
the server's Retry-After, and retries seen there (not inside the clients) show the clients' own retry
machinery is off.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import cv2
import httpx
import numpy as np
import pytest

from engine.errors import ImageRejected, StylizerError
from engine.stylize.base import CARICATURE_PROMPT, RetryEvent, parse_retry_after
from engine.stylize.openai_images import OpenAIStylizer
from engine.stylize.replicate_model import ReplicateStylizer
from tests.fakes import error, garbage, hang, rate_limited, server_error
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.replicate_server import FakeReplicate

BACKOFF_S = 0.01


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> np.ndarray:
    return cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_replicate() -> Iterator[FakeReplicate]:
    with FakeReplicate() as fake:
        yield fake


@pytest.fixture
def retries() -> list[RetryEvent]:
    return []


@pytest.fixture
def make_openai(
    fake_openai: FakeOpenAI, retries: list[RetryEvent]
) -> Iterator[Callable[..., OpenAIStylizer]]:
    made: list[OpenAIStylizer] = []

    def make(**options: object) -> OpenAIStylizer:
        settings: dict = {"api_key": fake_openai.api_key, "base_url": fake_openai.base_url, "timeout": 10.0}
        settings.update(options)
        made.append(OpenAIStylizer(backoff_s=BACKOFF_S, on_retry=retries.append, **settings))
        return made[-1]

    yield make
    for stylizer in made:
        stylizer.close()


@pytest.fixture
def make_replicate(
    fake_replicate: FakeReplicate, retries: list[RetryEvent]
) -> Iterator[Callable[..., ReplicateStylizer]]:
    made: list[ReplicateStylizer] = []

    def make(**options: object) -> ReplicateStylizer:
        settings: dict = {
            "api_token": fake_replicate.token,
            "base_url": fake_replicate.base_url,
            "model": f"{fake_replicate.model}:{fake_replicate.version}",
            "timeout": 10.0,
            "poll_interval_s": 0.02,
        }
        settings.update(options)
        made.append(ReplicateStylizer(backoff_s=BACKOFF_S, on_retry=retries.append, **settings))
        return made[-1]

    yield make
    for stylizer in made:
        stylizer.close()


def decoded(data: bytes | None) -> np.ndarray:
    assert data is not None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def assert_mirrored(result: np.ndarray, photo: np.ndarray) -> None:
    assert result.dtype == np.uint8 and result.shape == photo.shape
    assert np.array_equal(result, cv2.flip(photo, 1))


# --- OpenAI -----------------------------------------------------------------------------------------


def test_openai_edit_sends_png_prompt_and_model_and_decodes_base64(make_openai, fake_openai, retries, photo):
    result = make_openai().stylize(photo)

    assert_mirrored(result, photo)
    [sent] = fake_openai.requests
    assert sent.headers["Authorization"] == f"Bearer {fake_openai.api_key}"
    assert sent.fields["model"] == "gpt-image-1"
    assert sent.fields["prompt"] == CARICATURE_PROMPT
    assert "response_format" not in sent.fields  # GPT image models refuse it
    assert sent.image_content_type == "image/png" and sent.image is not None and sent.image[:4] == b"\x89PNG"
    assert np.array_equal(decoded(sent.image), photo)
    assert retries == []


def test_openai_url_answer_is_downloaded_and_large_photos_shrink(make_openai, fake_openai, photo):
    fake_openai.answer_with_url = True
    stylizer = make_openai(model="dall-e-2", max_side=64)

    result = stylizer.stylize(photo, "make it a caricature")

    assert result.shape == (64, 64, 3)
    [sent] = fake_openai.requests
    assert sent.fields["prompt"] == "make it a caricature"
    assert sent.fields["response_format"] == "b64_json"
    assert decoded(sent.image).shape == (64, 64, 3)
    assert len(fake_openai.downloads) == 1
    assert np.array_equal(result, cv2.flip(decoded(sent.image), 1))


def test_openai_429_waits_for_retry_after_then_succeeds(make_openai, fake_openai, retries, photo):
    fake_openai.edits.push(rate_limited(retry_after="1"))

    result = make_openai().stylize(photo)

    assert_mirrored(result, photo)
    assert len(fake_openai.requests) == 2
    assert [(e.attempt, e.wait_s) for e in retries] == [(1, 1.0)]
    assert "429" in retries[0].reason


def test_openai_5xx_twice_backs_off_exponentially_then_succeeds(make_openai, fake_openai, retries, photo):
    fake_openai.edits.push(server_error(500), server_error(503))

    result = make_openai().stylize(photo)

    assert_mirrored(result, photo)
    assert len(fake_openai.requests) == 3
    # Retries made by us (seen here), not by the openai client: its own would leave no events.
    assert [e.attempt for e in retries] == [1, 2]
    assert 0.75 * BACKOFF_S <= retries[0].wait_s <= BACKOFF_S
    assert 1.5 * BACKOFF_S <= retries[1].wait_s <= 2 * BACKOFF_S


def test_openai_5xx_until_retries_run_out_is_transient(make_openai, fake_openai, retries, photo):
    fake_openai.edits.push(*[server_error()] * 5)

    with pytest.raises(StylizerError) as caught:
        make_openai(max_retries=2).stylize(photo)

    assert caught.value.permanent is False
    assert "The server had an error" in str(caught.value)
    assert len(fake_openai.requests) == 3  # 1 + 2 retries; client-side retries would make it 9


def test_openai_bad_key_is_permanent_with_the_service_message(make_openai, fake_openai, photo):
    with pytest.raises(StylizerError) as caught:
        make_openai(api_key="sk-wrong").stylize(photo)

    assert caught.value.permanent is True
    assert "401" in str(caught.value) and "Incorrect API key provided" in str(caught.value)
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (400, "Your request was rejected by the safety system.", "moderation_blocked"),
        (
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
        ),
    ],
)
def test_openai_refusals_are_permanent_and_not_retried(
    make_openai, fake_openai, retries, photo, status, message, code
):
    fake_openai.edits.push(error(status, message, code))

    with pytest.raises(StylizerError) as caught:
        make_openai().stylize(photo)

    assert caught.value.permanent is True
    assert message in str(caught.value) and code in str(caught.value)
    assert len(fake_openai.requests) == 1 and retries == []


def test_openai_hang_ends_at_the_timeout_as_transient(make_openai, fake_openai, photo):
    fake_openai.edits.push(hang(30))

    with pytest.raises(StylizerError) as caught:
        make_openai(timeout=0.5).stylize(photo)

    assert caught.value.permanent is False
    assert "within 0.5s" in str(caught.value)
    assert len(fake_openai.requests) == 1


def test_openai_non_image_answer_is_a_typed_error(make_openai, fake_openai, photo):
    fake_openai.edits.push(garbage())

    with pytest.raises(StylizerError) as caught:
        make_openai().stylize(photo)

    assert caught.value.permanent is False
    assert isinstance(caught.value.__cause__, ImageRejected)
    assert caught.value.__cause__.reason == "not_an_image"


# --- Replicate --------------------------------------------------------------------------------------


def test_replicate_version_prediction_polls_and_downloads_the_output(
    make_replicate, fake_replicate, retries, photo
):
    result = make_replicate().stylize(photo, "a caricature")

    assert_mirrored(result, photo)
    [create] = fake_replicate.requests_to("POST", "/v1/predictions")
    assert create.headers["Authorization"] == f"Bearer {fake_replicate.token}"
    assert create.body is not None and create.body["version"] == fake_replicate.version
    assert create.body["input"]["prompt"] == "a caricature"
    assert create.body["input"]["image"].startswith("data:image/png;base64,")
    assert np.array_equal(decoded(fake_replicate.images[0]), photo)
    assert len(fake_replicate.requests_to("GET", "/v1/predictions/")) == 2  # processing, succeeded
    assert len(fake_replicate.requests_to("GET", "/files/")) == 1
    assert retries == []


def test_replicate_model_reference_uses_the_models_route_and_list_output(
    make_replicate, fake_replicate, photo
):
    fake_replicate.output_as_list = True
    stylizer = make_replicate(model=fake_replicate.model, extra_input={"strength": 0.7})

    result = stylizer.stylize(photo)

    assert_mirrored(result, photo)
    [create] = fake_replicate.requests_to("POST", "/v1/models/")
    assert create.path == f"/v1/models/{fake_replicate.model}/predictions"
    assert create.body is not None and "version" not in create.body
    assert create.body["input"]["strength"] == 0.7
    assert create.body["input"]["prompt"] == CARICATURE_PROMPT


def test_replicate_429_waits_for_retry_after_then_succeeds(make_replicate, fake_replicate, retries, photo):
    fake_replicate.create.push(rate_limited(retry_after="1"))

    result = make_replicate().stylize(photo)

    assert_mirrored(result, photo)
    assert len(fake_replicate.requests_to("POST", "/v1/predictions")) == 2
    assert [(e.what, e.wait_s) for e in retries] == [("replicate prediction", 1.0)]


def test_replicate_5xx_twice_on_create_then_succeeds(make_replicate, fake_replicate, retries, photo):
    fake_replicate.create.push(server_error(500), server_error(502))

    result = make_replicate().stylize(photo)

    assert_mirrored(result, photo)
    assert len(fake_replicate.requests_to("POST", "/v1/predictions")) == 3
    assert [e.attempt for e in retries] == [1, 2]
    assert 1.5 * BACKOFF_S <= retries[1].wait_s <= 2 * BACKOFF_S


def test_replicate_poll_503_is_retried_by_us_not_the_client_transport(
    make_replicate, fake_replicate, retries, photo
):
    # replicate's own RetryTransport would retry this GET itself (up to 10 times, any Retry-After).
    fake_replicate.poll.push(server_error(503, "Service Unavailable"))

    result = make_replicate().stylize(photo)

    assert_mirrored(result, photo)
    assert len(fake_replicate.requests_to("GET", "/v1/predictions/")) == 3
    assert [e.what for e in retries] == ["replicate poll"]
    assert "503" in retries[0].reason


def test_replicate_5xx_until_retries_run_out_is_transient(make_replicate, fake_replicate, retries, photo):
    fake_replicate.create.push(*[server_error()] * 5)

    with pytest.raises(StylizerError) as caught:
        make_replicate(max_retries=1).stylize(photo)

    assert caught.value.permanent is False
    assert len(fake_replicate.requests_to("POST", "/v1/predictions")) == 2


def test_replicate_bad_token_is_permanent_with_the_service_detail(make_replicate, fake_replicate, photo):
    with pytest.raises(StylizerError) as caught:
        make_replicate(api_token="r8_wrong").stylize(photo)

    assert caught.value.permanent is True
    assert "401" in str(caught.value) and "valid authentication token" in str(caught.value)
    assert len(fake_replicate.requests) == 1


def test_replicate_invalid_input_is_permanent(make_replicate, fake_replicate, retries, photo):
    with pytest.raises(StylizerError) as caught:
        make_replicate(prompt_key="text").stylize(photo)

    assert caught.value.permanent is True
    assert "422" in str(caught.value) and "prompt is required" in str(caught.value)
    assert len(fake_replicate.requests) == 1 and retries == []


def test_replicate_failed_prediction_is_permanent_with_the_model_error(make_replicate, fake_replicate, photo):
    fake_replicate.progression = ["processing", "failed"]

    with pytest.raises(StylizerError) as caught:
        make_replicate().stylize(photo)

    assert caught.value.permanent is True
    assert fake_replicate.failure in str(caught.value)
    assert fake_replicate.requests_to("GET", "/files/") == []


def test_replicate_prediction_past_the_deadline_is_cancelled_and_transient(
    make_replicate, fake_replicate, photo
):
    fake_replicate.progression = ["processing"]  # never finishes

    with pytest.raises(StylizerError) as caught:
        make_replicate(timeout=0.5, poll_interval_s=0.1).stylize(photo)

    assert caught.value.permanent is False
    assert "still processing" in str(caught.value)
    assert len(fake_replicate.created) == 1
    assert fake_replicate.canceled == fake_replicate.created
    assert len(fake_replicate.requests_to("GET", "/v1/predictions/")) >= 1


def test_replicate_hang_ends_at_the_timeout_as_transient(make_replicate, fake_replicate, photo):
    fake_replicate.create.push(hang(30))

    with pytest.raises(StylizerError) as caught:
        make_replicate(timeout=0.5).stylize(photo)

    assert caught.value.permanent is False
    assert "within 0.5s" in str(caught.value)
    assert len(fake_replicate.requests_to("POST", "/v1/predictions")) == 1


def test_replicate_non_image_output_is_a_typed_error(make_replicate, fake_replicate, photo):
    fake_replicate.files.push(garbage(b"GIF89a not what we asked for"))

    with pytest.raises(StylizerError) as caught:
        make_replicate().stylize(photo)

    assert caught.value.permanent is False
    assert isinstance(caught.value.__cause__, ImageRejected)
    assert caught.value.__cause__.reason == "unsupported_format"


def test_replicate_rejects_a_malformed_model_reference():
    with pytest.raises(ValueError, match="owner/name"):
        ReplicateStylizer(api_token="r8_x", model="just-a-name")


# --- shared rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["openai", "replicate"])
def test_refused_connections_are_retried_then_transient(photo, retries, service):
    with socket.socket() as sock:  # a port nobody listens on: every connection is refused at once
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    common = {"max_retries": 2, "backoff_s": BACKOFF_S, "on_retry": retries.append}
    stylizer = (
        OpenAIStylizer(api_key="sk-x", base_url=f"{dead}/v1", **common)
        if service == "openai"
        else ReplicateStylizer(api_token="r8_x", model="acme/toonify", base_url=dead, **common)
    )

    with pytest.raises(StylizerError) as caught, closing(stylizer):
        stylizer.stylize(photo)

    assert caught.value.permanent is False
    assert "failed 3 times" in str(caught.value) and "Connect" in str(caught.value)
    assert [e.attempt for e in retries] == [1, 2]


def test_retry_after_forms():
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "Retry-After": "9"})) == 1.5
    assert parse_retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(httpx.Headers({"Retry-After": when})) <= 30  # type: ignore[operator]
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_fake_openai_refuses_a_request_without_an_image_type(fake_openai):
    # The fake checks what clients send: an octet-stream upload is refused as the service does.
    response = httpx.post(
        f"{fake_openai.base_url}/images/edits",
        headers={"Authorization": f"Bearer {fake_openai.api_key}"},
        data={"model": "gpt-image-1", "prompt": "x"},
        files={"image": ("a.bin", base64.b64decode("iVBORw0KGgo="), "application/octet-stream")},
    )
    assert response.status_code == 400
    assert "unsupported mimetype" in response.json()["error"]["message"]
