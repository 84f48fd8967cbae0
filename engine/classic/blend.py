"""Blending a pasted region into a picture: a feathered alpha and a Poisson (seamless) clone.

Both work on a small region of interest; neither ever changes a pixel outside the given mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# seamlessClone treats the outermost pixel rows of its mask as boundary and misplaces masks that
# touch the image edge, so the clone runs on a copy padded by this many pixels.
_CLONE_PAD = 8
# How far (levels per channel) the Poisson solve may pull the overlay towards the base's boundary.
DEFAULT_MAX_SHIFT = 24.0


def feather_mask(mask: np.ndarray, erode_px: int, blur_sigma: float) -> np.ndarray:
    """A float32 alpha in [0, 1]: ``mask`` eroded by ``erode_px``, then Gaussian-blurred by ``blur_sigma``.

    The blur radius is capped at the erosion, so the alpha is exactly 0 outside ``mask``. Erosion
    does not eat into the mask from the image edge (a face cut by the border stays opaque there).
    """
    binary = np.asarray(mask, dtype=bool)
    erode_px = max(0, int(erode_px))
    core: np.ndarray = binary.astype(np.uint8)
    if erode_px:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        core = cv2.erode(core, kernel)
    alpha: np.ndarray = core.astype(np.float32)
    radius = min(erode_px, math.ceil(3.0 * blur_sigma))
    if radius > 0 and blur_sigma > 0:
        alpha = cv2.GaussianBlur(alpha, (2 * radius + 1, 2 * radius + 1), blur_sigma)
    alpha[~binary] = 0.0
    return alpha


def seamless_blend(
    base: np.ndarray,
    overlay: np.ndarray,
    mask: np.ndarray,
    alpha: np.ndarray,
    max_shift: float = DEFAULT_MAX_SHIFT,
) -> np.ndarray:
    """``overlay`` Poisson-cloned into ``base`` inside ``mask``, then mixed by ``alpha``.

    The clone keeps the overlay's gradients and takes its boundary colours from ``base``; the alpha
    fades whatever seam is left. Where ``alpha`` is 0 the result is ``base``, byte for byte.

    Plain Poisson cloning spreads every boundary mismatch through the whole region: a bright window
    behind a cheek or a fringe over a forehead turns half a face white. So the mismatch on the
    boundary is clipped to ``max_shift`` levels per channel first: the clone then corrects lighting
    and tone, not content. Where ``mask`` touches the edge of ``base`` it is continued into a
    mirrored border, so the region there blends like an interior one.
    """
    binary = np.asarray(mask, dtype=bool)
    if not binary.any():
        return base.copy()
    boundary = binary & ~cv2.erode(binary.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    anchored = base.copy()
    over_px = overlay[boundary].astype(np.float32)
    shift = np.clip(base[boundary].astype(np.float32) - over_px, -max_shift, max_shift)
    anchored[boundary] = np.clip(over_px + shift + 0.5, 0, 255).astype(np.uint8)

    pad = _CLONE_PAD
    base_p = cv2.copyMakeBorder(anchored, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    over_p = cv2.copyMakeBorder(overlay, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    mask_p = cv2.copyMakeBorder(binary.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    mask_p[:2], mask_p[-2:], mask_p[:, :2], mask_p[:, -2:] = 0, 0, 0, 0
    x, y, w, h = cv2.boundingRect(mask_p)
    # With same-sized images, this centre puts the overlay exactly over the base (integer halves).
    clone = cv2.seamlessClone(over_p, base_p, mask_p, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    clone = clone[pad:-pad, pad:-pad]
    a = np.asarray(alpha, dtype=np.float32)[..., None]
    mixed = a * clone.astype(np.float32) + (1.0 - a) * base.astype(np.float32)
    out = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    untouched = a[..., 0] <= 0.0
    out[untouched] = base[untouched]
    return out
