"""Colour transfer: match an image's colour statistics to a reference's inside a region (Reinhard, LAB)."""

from __future__ import annotations

import cv2
import numpy as np

# Bounds on the per-channel std ratio: a flat region (a shadowed cheek, a blown-out forehead) would
# otherwise stretch the other image's noise into blotches.
_MIN_RATIO, _MAX_RATIO = 0.5, 2.0


def transfer_lab(
    image: np.ndarray, reference: np.ndarray, mask: np.ndarray, reference_mask: np.ndarray | None = None
) -> np.ndarray:
    """``image`` recoloured so that its LAB mean and std inside ``mask`` equal ``reference``'s.

    ``reference_mask`` (default: ``mask``) picks the reference's pixels, so two crops need not be
    aligned. Both images are BGR uint8; returns BGR uint8 of ``image``'s shape. An empty mask
    returns an unchanged copy.
    """
    mask = np.asarray(mask, dtype=bool)
    ref_mask = mask if reference_mask is None else np.asarray(reference_mask, dtype=bool)
    if not mask.any() or not ref_mask.any():
        return image.copy()
    # float32 LAB (L in 0..100) avoids the 8-bit quantisation of cv2's uint8 LAB.
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    ref = cv2.cvtColor(reference.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    src_px, ref_px = lab[mask], ref[ref_mask]
    src_mean, src_std = src_px.mean(axis=0), src_px.std(axis=0)
    ref_mean, ref_std = ref_px.mean(axis=0), ref_px.std(axis=0)
    ratio = np.clip(ref_std / np.maximum(src_std, 1e-3), _MIN_RATIO, _MAX_RATIO)
    out = (lab - src_mean) * ratio + ref_mean
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    bgr = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2BGR)
    scaled: np.ndarray = np.clip(bgr * 255.0 + 0.5, 0, 255)
    return scaled.astype(np.uint8)
