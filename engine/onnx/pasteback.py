"""Paste a swapped 128x128 face crop back into the photo, computing only around the face.

The blend is insightface's ``INSwapper.get(..., paste_back=True)``: warp the crop and a white square
back into the frame, set every warped white value above 20 to 255, erode that mask with a square
kernel of a tenth of the mask's size, blur it with a Gaussian of a twentieth, and mix. insightface
does each step over the whole frame (three full-frame warps, an erosion and two large blurs on
12 megapixels); here they run on the face's region of interest only: the warped square's bounding
box plus two pixels, clipped to the image. Outside that box the mask is exactly zero, so the
result is the same.

Bit-equality of the warps needs care: cv2.warpAffine computes each source coordinate from the
pixel's position in the output, so warping into a shifted ROI rounds differently from warping into
the full frame, and the mask's "> 20" threshold and kernel sizes turn small differences into
visible ones. The ROI is therefore resampled with cv2.remap on coordinates computed the way
warpAffine computes them for the full frame. Which arithmetic this OpenCV build uses is measured
once against cv2.warpAffine itself; if none matches, the ROI falls back to a shifted warpAffine.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

_MASK_THRESHOLD = 20  # insightface: warped white above this counts as inside
# Pixels kept around the warped square: the even erosion kernel's off-centre anchor leaves the mask
# one pixel further right/down than its left/up shrinkage, and one more for float rounding of corners.
_MARGIN = 2


@dataclass(frozen=True)
class WarpModel:
    """How this OpenCV computes warpAffine's source coordinates.

    ``vector``: float32 coordinates, ``fma(M0, x, float(y*M1 + M2))`` in SIMD blocks of ``block``
    pixels and ``fma(x, M0, y*M1) + M2`` for the columns after the last whole block of a row (OpenCV
    4.11+). ``shifted``: no model matched; warp the ROI with a translated matrix (may differ by one
    grey level at a few pixels).
    """

    kind: str
    block: int = 0


_CANDIDATES = (WarpModel("vector", 16), WarpModel("vector", 32), WarpModel("vector", 8))


def _opencv_inverse(matrix: np.ndarray) -> np.ndarray:
    """The destination->source matrix warpAffine derives from ``matrix``, in its operation order."""
    m = np.asarray(matrix, dtype=np.float64).ravel().copy()
    d = m[0] * m[4] - m[1] * m[3]
    d = 1.0 / d if d != 0 else 0.0
    a11, a22 = m[4] * d, m[0] * d
    m[0], m[1], m[3], m[4] = a11, m[1] * -d, m[3] * -d, a22
    m[2], m[5] = -m[0] * m[2] - m[1] * m[5], -m[3] * m[2] - m[4] * m[5]
    return m


def _fma32(a: np.ndarray | np.float32, b: np.ndarray | np.float32, c: np.ndarray) -> np.ndarray:
    """float32 fused multiply-add: the product of two float32 is exact in float64, rounded once."""
    return (np.float64(a) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def _vector_maps(
    matrix: np.ndarray, roi: tuple[int, int, int, int], frame_width: int, block: int
) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = roi
    m = _opencv_inverse(matrix).astype(np.float32)
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    tail = max(frame_width // block * block, x0) - x0  # first ROI column computed by the scalar loop
    maps = []
    for a, b, c in ((m[0], m[1], m[2]), (m[3], m[4], m[5])):
        coords = _fma32(a, xs[None, :], ys * b + c)
        if tail < x1 - x0:
            coords[:, tail:] = _fma32(xs[tail:], a, ys * b) + c
        maps.append(coords)
    return maps[0], maps[1]


class RegionWarp:
    """``cv2.warpAffine(src, matrix, frame_size, borderValue=0)[y0:y1, x0:x1]`` without the full frame."""

    def __init__(
        self, matrix: np.ndarray, roi: tuple[int, int, int, int], frame_width: int, model: WarpModel
    ) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.roi = roi
        self.model = model
        self._maps = (
            _vector_maps(self.matrix, roi, frame_width, model.block) if model.kind == "vector" else None
        )

    def __call__(self, src: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.roi
        if self._maps is not None:
            return cv2.remap(
                src, *self._maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
        shifted = self.matrix.copy()
        shifted[:, 2] -= (x0, y0)
        return cv2.warpAffine(src, shifted, (x1 - x0, y1 - y0), borderValue=0.0)


@functools.cache
def warp_model() -> WarpModel:
    """The first candidate that reproduces cv2.warpAffine exactly on a probe, else ``shifted``."""
    rng = np.random.default_rng(7)
    sources: list[np.ndarray] = [
        rng.random((37, 41), dtype=np.float32),
        rng.integers(0, 256, (37, 41, 3), dtype=np.uint8),
    ]
    angle, scale = 0.4, 1.7
    matrix = np.array(
        [
            [scale * math.cos(angle), -scale * math.sin(angle), 23.3],
            [scale * math.sin(angle), scale * math.cos(angle), -7.9],
        ]
    )
    width, height = 124, 61  # 124 = 3*32 + 28: the scalar tail starts at 120, 112 or 96 by block size
    for model in _CANDIDATES:
        warp = RegionWarp(matrix, (0, 0, width, height), width, model)
        if all(
            np.array_equal(warp(src), cv2.warpAffine(src, matrix, (width, height), borderValue=0.0))
            for src in sources
        ):
            return model
    return WarpModel("shifted")


def paste_region(
    frame_shape: tuple[int, ...], matrix: np.ndarray, crop_size: int
) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends: where pasting a crop aligned by ``matrix`` can change pixels.

    That is the bounding box of the crop's square mapped into the frame (one pixel wider on each
    side: bilinear sampling reaches that far), plus ``_MARGIN``, clipped to the frame; ``None`` when
    it misses the frame. No more is needed for the mask: the erosion pulls it in by half its kernel
    (a tenth of the mask's size), at least as far as the blur (a twentieth) pushes it back out, so
    the blurred mask is zero outside the warped square and the blur's border reflection at the
    region's edges only ever reads zeros.
    """
    height, width = frame_shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    square = np.array([[-1, -1], [crop_size, -1], [crop_size, crop_size], [-1, crop_size]], np.float64)
    corners = square @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = (int(v) - _MARGIN for v in np.floor(corners.min(axis=0)))
    x1, y1 = (int(v) + 1 + _MARGIN for v in np.ceil(corners.max(axis=0)))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def paste_back_into(
    frame: np.ndarray, crop: np.ndarray, matrix: np.ndarray, model: WarpModel | None = None
) -> tuple[int, int, int, int] | None:
    """Blend the swapped ``crop`` (``matrix``: frame -> crop) into ``frame`` in place.

    Returns the region that was written, or ``None`` when the face lies outside the frame.
    """
    roi = paste_region(frame.shape, matrix, crop.shape[0])
    if roi is None:
        return None
    warp = RegionWarp(
        cv2.invertAffineTransform(np.asarray(matrix, np.float64)), roi, frame.shape[1], model or warp_model()
    )
    white = warp(np.full(crop.shape[:2], 255, dtype=np.float32))
    white[white > _MASK_THRESHOLD] = 255
    rows, cols = np.nonzero(white == 255)
    if rows.size == 0:
        return None
    mask_size = int(np.sqrt((rows.max() - rows.min()) * (cols.max() - cols.min())))
    k = max(mask_size // 10, 10)
    mask: np.ndarray = cv2.erode(white, np.ones((k, k), np.uint8), iterations=1)
    k = max(mask_size // 20, 5)
    # float32 in, float32 out: asarray only tells the type checker (no copy).
    mask = np.asarray(cv2.GaussianBlur(mask, (2 * k + 1, 2 * k + 1), 0), dtype=np.float32)
    mask /= 255
    mask = mask[:, :, None]
    x0, y0, x1, y1 = roi
    region = frame[y0:y1, x0:x1]
    merged = mask * warp(crop) + (1 - mask) * region.astype(np.float32)
    region[...] = merged.astype(np.uint8)
    return roi


def paste_back(
    frame: np.ndarray, crop: np.ndarray, matrix: np.ndarray, model: WarpModel | None = None
) -> np.ndarray:
    """A copy of ``frame`` with the swapped ``crop`` blended in (see ``paste_back_into``)."""
    out = frame.copy()
    paste_back_into(out, crop, matrix, model)
    return out
