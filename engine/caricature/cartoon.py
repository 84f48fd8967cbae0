"""Cartoon look: flat colour areas from a small palette, outlined with ink.

The costly steps (edge-preserving smoothing, palette search, edge detection) run on a copy of at most
about one megapixel; at full size only table look-ups and a resize happen, so a 12 MP photo takes
well under a second. Everything is deterministic: the same picture always gives the same cartoon.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.base import check_bgr

WORK_PIXELS = 1_000_000  # the working copy's size: enough for faces, small enough to be quick
COLOURS = 12  # palette size (ink adds one more colour)
INK = (24, 20, 18)  # BGR of the outlines: near-black, a little warm
_BINS = 32  # the colour look-up table's levels per channel (5 bits)
_SAMPLES = 20_000  # pixels the palette is fitted on
_ITERATIONS = 12


def _working_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = min(1.0, (WORK_PIXELS / float(height * width)) ** 0.5)
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _smooth(image: np.ndarray, scale: float) -> np.ndarray:
    """Flatten texture but keep edges: two light bilateral passes beat one heavy one for speed."""
    diameter = 7 if scale < 1.0 else 9
    out = cv2.bilateralFilter(image, diameter, 40, 7)
    return cv2.bilateralFilter(out, diameter, 40, 7)


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point (squared distances, one channel at a time: with three
    channels, plain element-wise work beats a matrix product, which wakes a BLAS thread pool)."""
    scores = np.zeros((len(points), len(centres)), dtype=np.float32)
    for c in range(points.shape[1]):
        diff = points[:, c, None] - centres[None, :, c]
        scores += diff * diff
    nearest: np.ndarray = scores.argmin(axis=1)
    return nearest


def palette(image: np.ndarray, colours: int = COLOURS) -> np.ndarray:
    """``colours`` BGR colours fitted by k-means in Lab on an evenly strided sample (deterministic)."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    step = max(1, len(lab) // _SAMPLES)
    sample = lab[::step]
    # Maximin seeding from the darkest sample: each next centre is the sample farthest from those
    # chosen, so small but vivid areas get a colour of their own, and no random seed is involved.
    centres = np.empty((colours, 3), dtype=np.float32)
    centres[0] = sample[np.argmin(sample[:, 0])]
    nearest = ((sample - centres[0]) ** 2).sum(axis=1)
    for k in range(1, colours):
        centres[k] = sample[np.argmax(nearest)]
        nearest = np.minimum(nearest, ((sample - centres[k]) ** 2).sum(axis=1))
    for _ in range(_ITERATIONS):
        labels = _nearest(sample, centres)
        counts = np.bincount(labels, minlength=colours)
        sums = np.stack([np.bincount(labels, sample[:, c], minlength=colours) for c in range(3)], axis=1)
        filled = counts > 0  # an emptied cluster keeps its old centre
        centres[filled] = sums[filled] / counts[filled, None]
    lab_centres = np.clip(np.rint(centres), 0, 255).astype(np.uint8)[None]
    bgr_centres: np.ndarray = cv2.cvtColor(lab_centres, cv2.COLOR_LAB2BGR)[0]
    return bgr_centres


def _lookup_table(colours: np.ndarray) -> np.ndarray:
    """For every 5-bit-per-channel BGR cell, the nearest palette colour (in Lab)."""
    levels = (np.arange(_BINS, dtype=np.uint16) * (256 // _BINS) + 256 // _BINS // 2).astype(np.uint8)
    b, g, r = np.meshgrid(levels, levels, levels, indexing="ij")
    cells = np.stack([b.ravel(), g.ravel(), r.ravel()], axis=1)[None]
    cells_lab = cv2.cvtColor(cells, cv2.COLOR_BGR2LAB)[0].astype(np.float32)
    palette_lab = cv2.cvtColor(colours[None], cv2.COLOR_BGR2LAB)[0].astype(np.float32)
    table: np.ndarray = colours[_nearest(cells_lab, palette_lab)]
    return table


def quantize(image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map every pixel to a palette colour through the 32x32x32 table: fast at any size."""
    table = _lookup_table(colours)
    shift = 8 - int(np.log2(_BINS))
    cell = image >> shift
    index = (cell[..., 0].astype(np.int32) * _BINS + cell[..., 1]) * _BINS + cell[..., 2]
    quantized: np.ndarray = table[index]
    return quantized


def ink_edges(image: np.ndarray) -> np.ndarray:
    """A bool mask of outlines: pixels clearly darker than their neighbourhood on blurred luminance."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    gray = cv2.medianBlur(gray, 5)
    block = max(7, (min(image.shape[:2]) // 80) | 1)
    light = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 6)
    # Drop specks: lines survive an opening of the dark set, single-pixel noise does not.
    dark = cv2.morphologyEx(255 - light, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return dark > 0


def cartoonize(image: np.ndarray) -> np.ndarray:
    """The picture as a cartoon: same size and dtype (BGR uint8), at most ``COLOURS`` + 1 colours."""
    check_bgr(image)
    height, width = image.shape[:2]
    small, scale = _working_copy(image)
    smooth = _smooth(small, scale)
    colours = palette(smooth)
    edges = ink_edges(small)
    if scale < 1.0:
        # Smooth colours are upscaled before quantising so area borders are crisp at full size; the
        # ink mask is upscaled as a soft image and cut at half, which keeps lines smooth, not blocky.
        smooth = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
        soft = cv2.resize(edges.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
        edges = soft >= 128
    out = quantize(smooth, colours)
    out[edges] = INK
    return out
