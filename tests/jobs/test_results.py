"""Result encoding on the delivery side: Telegram's sendPhoto limits, and the full-size document when a
picture is beyond them."""

from __future__ import annotations

import numpy as np

from engine.imageio import ImageInfo, decode_image, probe_image
from jobs.results import (
    DOCUMENT_QUALITY,
    TELEGRAM_MAX_ASPECT,
    TELEGRAM_MAX_PHOTO_BYTES,
    TELEGRAM_MAX_SIDES_SUM,
    encode_photo,
    encode_result,
    fits_photo_limits,
)


def gradient(height: int, width: int) -> np.ndarray:
    row = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    return np.dstack([np.broadcast_to(row, (height, width))] * 3)


def test_photo_limits_are_telegrams():
    assert (TELEGRAM_MAX_SIDES_SUM, TELEGRAM_MAX_ASPECT, TELEGRAM_MAX_PHOTO_BYTES) == (10_000, 20, 10_000_000)
    assert fits_photo_limits(6000, 4000)
    assert not fits_photo_limits(6000, 4001)  # sides sum over 10000
    assert fits_photo_limits(2000, 100)
    assert not fits_photo_limits(2001, 100)  # over 20:1


def test_photo_is_scaled_to_the_side_sum():
    info = probe_image(encode_photo(gradient(3000, 9000)))
    assert 9_990 <= info.width + info.height <= 10_000
    assert abs(info.width / info.height - 3) < 0.01


def test_photo_is_padded_to_the_aspect_limit():
    strip = np.full((60, 2100, 3), (0, 0, 200), np.uint8)
    back = decode_image(encode_photo(strip))
    assert back.shape == (105, 2100, 3)  # 2100 / 20
    assert np.abs(back[2, 1000].astype(int) - 255).max() < 8  # white band
    assert np.abs(back[52, 1000].astype(int) - (0, 0, 200)).max() < 8  # the picture, centred


def test_noisy_large_photo_fits_the_byte_limit():
    noise = np.random.default_rng(2).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    data = encode_photo(noise)
    assert len(data) <= TELEGRAM_MAX_PHOTO_BYTES
    assert probe_image(data) == ImageInfo("jpeg", 4000, 3000, 1)


def test_result_within_the_limits_is_a_photo():
    result = encode_result(gradient(300, 400))
    assert result.document is None and result.photo is not None
    assert (result.width, result.height) == (400, 300)
    assert probe_image(result.photo) == ImageInfo("jpeg", 400, 300, 1)


def test_result_beyond_the_limits_is_a_full_size_document():
    wide = gradient(500, 9800)  # sides sum 10300: a photo would be scaled down
    result = encode_result(wide)
    assert result.photo is None and result.document is not None
    assert probe_image(result.document) == ImageInfo("jpeg", 9800, 500, 1)
    assert DOCUMENT_QUALITY >= 90
    assert np.abs(decode_image(result.document).astype(int) - wide).mean() < 1.5
