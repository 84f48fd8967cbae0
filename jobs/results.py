"""A finished picture, encoded once for every platform: a photo when Telegram's photo limits allow it
(it shows inline), otherwise the full-size file as a document, so nothing is shrunk or padded away.
Telegram's sendPhoto limits and Discord's upload limit live here, on the delivery side: the engine's
encoder takes limits as arguments and knows no platform."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.imageio import encode_jpeg

# Telegram's sendPhoto limits (Bot API docs): width + height, the long side over the short side, bytes.
TELEGRAM_MAX_SIDES_SUM = 10_000
TELEGRAM_MAX_ASPECT = 20
TELEGRAM_MAX_PHOTO_BYTES = 10_000_000
DOCUMENT_QUALITY = 95
# Discord's upload limit for a bot's message without server boosts (10 MiB, the file's own bytes).
DISCORD_UPLOAD_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    """Exactly one of ``photo`` / ``document`` is set; both are JPEG bytes. ``face_count``: an
    analysis's numbered preview shows this many faces (the bots make one button per number); None for
    other results. ``faces_left_out``: the smaller faces it found beyond the limit and did not number
    (its caption says so)."""

    photo: bytes | None
    document: bytes | None
    width: int
    height: int
    face_count: int | None = None
    faces_left_out: int = 0

    @property
    def data(self) -> bytes:
        data = self.photo if self.photo is not None else self.document
        assert data is not None
        return data


def fits_photo_limits(width: int, height: int) -> bool:
    return width + height <= TELEGRAM_MAX_SIDES_SUM and max(width, height) <= TELEGRAM_MAX_ASPECT * min(
        width, height
    )


def encode_photo(image: np.ndarray, quality: int = 95) -> bytes:
    """A JPEG that Telegram's sendPhoto takes as it is: padded (white) to the aspect limit, scaled
    down to the side sum, and lower quality (then smaller) until under the byte limit."""
    return encode_jpeg(
        image,
        quality,
        max_sides_sum=TELEGRAM_MAX_SIDES_SUM,
        max_bytes=TELEGRAM_MAX_PHOTO_BYTES,
        max_aspect=TELEGRAM_MAX_ASPECT,
    )


def encode_result(image: np.ndarray, *, face_count: int | None = None, faces_left_out: int = 0) -> Result:
    """CPU work (tens of milliseconds for a large picture): call it off the event loop."""
    height, width = image.shape[:2]
    if fits_photo_limits(width, height):
        return Result(encode_photo(image), None, width, height, face_count, faces_left_out)
    return Result(None, encode_jpeg(image, DOCUMENT_QUALITY), width, height, face_count, faces_left_out)


def fit_upload(data: bytes, max_bytes: int) -> bytes:
    """``data`` (one of our JPEGs) as it is when it fits ``max_bytes``, else re-encoded to fit: lower
    quality first, then smaller (a full-size document can pass Discord's limit). CPU work: call it off
    the event loop."""
    if len(data) <= max_bytes:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a stored result is not a decodable JPEG")
    return encode_jpeg(image, DOCUMENT_QUALITY, max_bytes=max_bytes)
