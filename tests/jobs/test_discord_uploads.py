"""Discord takes files up to its upload limit: a result over it (a full-size document) is re-encoded
to fit before it is posted, and one under it goes as it is, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import cv2
import numpy as np
import pytest

from db.base import utcnow
from db.jobs import Delivery
from jobs.config import DiscordConfig
from jobs.notify import Target
from jobs.notify.discord import DiscordNotifier
from jobs.platforms.discord import set_api_base
from jobs.results import DISCORD_UPLOAD_LIMIT, encode_result, fit_upload
from tests.fakes.discord_server import FakeDiscord

LIMIT = 300_000


def noisy(width: int, height: int) -> np.ndarray:
    """Noise compresses badly: a JPEG of it is large for its size, as a detailed photo is."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (height, width, 3), np.uint8)
    return cv2.GaussianBlur(image, (3, 3), 0)


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        set_api_base(fake.api_url)
        yield fake


def _target(discord: FakeDiscord) -> Target:
    token, original = discord.interaction()
    delivery = Delivery("discord", "5550003", str(original), token, utcnow() + timedelta(minutes=15))
    return Target(job_id="j-upload", delivery=delivery, user_external_id="777", language=None)


def _decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


async def test_a_result_over_the_limit_is_re_encoded_to_fit(discord: FakeDiscord) -> None:
    result = encode_result(noisy(1200, 800))
    assert len(result.data) > LIMIT
    notifier = DiscordNotifier(DiscordConfig(discord.token, discord.api_url, upload_limit_bytes=LIMIT))
    try:
        await notifier.deliver(_target(discord), result, "Done.")
    finally:
        await notifier.close()
    (posted,) = discord.posted
    (sent,) = posted.files
    assert len(sent) <= LIMIT
    height, width = _decoded(sent).shape[:2]
    assert abs(width / height - 1200 / 800) < 0.01  # the same picture, not a crop or a padding


async def test_a_result_under_the_limit_is_posted_as_it_is(discord: FakeDiscord) -> None:
    result = encode_result(noisy(300, 200))
    assert len(result.data) < LIMIT
    notifier = DiscordNotifier(DiscordConfig(discord.token, discord.api_url, upload_limit_bytes=LIMIT))
    try:
        await notifier.deliver(_target(discord), result, "Done.")
    finally:
        await notifier.close()
    assert discord.posted[0].files == [result.data]


def test_the_default_limit_is_discords() -> None:
    assert DiscordConfig("t").upload_limit_bytes == DISCORD_UPLOAD_LIMIT == 10 * 1024 * 1024
    data = encode_result(noisy(64, 64)).data
    assert fit_upload(data, len(data)) is data
