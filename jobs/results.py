"""A finished picture, encoded once for every platform: a photo when Telegram's photo limits allow it
(it shows inline), otherwise the full-size file as a document, so nothing is shrunk or padded away."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.imageio import TELEGRAM_MAX_ASPECT, TELEGRAM_MAX_SIDES_SUM, encode_jpeg

DOCUMENT_QUALITY = 95


@dataclass(frozen=True, slots=True)
class Result:
    """Exactly one of ``photo`` / ``document`` is set; both are JPEG bytes."""

    photo: bytes | None
    document: bytes | None
    width: int
    height: int

    @property
    def data(self) -> bytes:
        data = self.photo if self.photo is not None else self.document
        assert data is not None
        return data


def fits_photo_limits(width: int, height: int) -> bool:
    return width + height <= TELEGRAM_MAX_SIDES_SUM and max(width, height) <= TELEGRAM_MAX_ASPECT * min(
        width, height
    )


def encode_result(image: np.ndarray) -> Result:
    """CPU work (tens of milliseconds for a large picture): call it off the event loop."""
    height, width = image.shape[:2]
    if fits_photo_limits(width, height):
        return Result(encode_jpeg(image), None, width, height)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, DOCUMENT_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Result(None, buf.tobytes(), width, height)
