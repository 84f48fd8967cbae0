"""One identity between several saved faces ("/swap anna+bob"): what each swapper reads of a source,
averaged. Embeddings (what the ONNX swapper injects) are averaged per model and keep the inputs' mean
length; the chip (the pixels the classic swapper paints) is a morph: every chip warped onto the mean
landmarks, then averaged, so features line up instead of ghosting. Chips share one alignment
(engine.face.identity_from), which keeps the warps small."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from engine.align import kps_from_landmarks
from engine.choices import MAX_MIX
from engine.classic.warp import delaunay, warp_piecewise_affine
from engine.face import Identity


def mix_identities(identities: Sequence[Identity]) -> Identity:
    """The average of 1 to ``MAX_MIX`` identities; embeddings of models that every one of them has."""
    if not 1 <= len(identities) <= MAX_MIX:
        raise ValueError(f"mix 1 to {MAX_MIX} identities, not {len(identities)}")
    if len(identities) == 1:
        return identities[0]
    # Faces saved before the chip grew (256 -> 512 px) come back smaller: bring every chip to the largest.
    height, width = max(identity.chip.shape[:2] for identity in identities)
    identities = [_resized(identity, width, height) for identity in identities]
    with_landmarks = all(
        identity.landmarks is not None and len(identity.landmarks) == 68 for identity in identities
    )
    points = [
        np.asarray(identity.landmarks if with_landmarks else identity.kps, dtype=np.float32)
        for identity in identities
    ]
    mean = np.mean(points, axis=0).astype(np.float32)
    anchors = _border(width, height)
    target = np.vstack([mean, anchors])
    triangles = delaunay(target, width, height)
    total = np.zeros((height, width, 3), np.float64)
    for identity, own in zip(identities, points, strict=True):
        warped, _ = warp_piecewise_affine(
            identity.chip, np.vstack([own, anchors]), target, triangles, (0, 0, width, height)
        )
        total += warped
    chip = np.clip(total / len(identities) + 0.5, 0, 255).astype(np.uint8)
    return Identity(
        chip=chip,
        kps=kps_from_landmarks(mean) if with_landmarks else mean,
        landmarks=mean if with_landmarks else None,
        embeddings=_mean_embeddings(identities),
    )


def _resized(identity: Identity, width: int, height: int) -> Identity:
    """``identity`` with its chip scaled to ``width`` x ``height`` and its points with it."""
    h, w = identity.chip.shape[:2]
    if (h, w) == (height, width):
        return identity
    scale = np.array([width / w, height / h], dtype=np.float32)
    chip = cv2.resize(identity.chip, (width, height), interpolation=cv2.INTER_CUBIC)
    landmarks = None if identity.landmarks is None else np.asarray(identity.landmarks, np.float32) * scale
    kps = np.asarray(identity.kps, np.float32) * scale
    return dataclasses.replace(identity, chip=chip, kps=kps, landmarks=landmarks)


def _mean_embeddings(identities: Sequence[Identity]) -> dict[str, np.ndarray]:
    shared = set.intersection(*(set(identity.embeddings) for identity in identities))
    out: dict[str, np.ndarray] = {}
    for model in sorted(shared):
        vectors = np.stack([np.asarray(i.embeddings[model], dtype=np.float32).ravel() for i in identities])
        mean = vectors.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        length = float(np.linalg.norm(vectors, axis=1).mean())
        out[model] = (mean * (length / norm) if norm > 0 else mean).astype(np.float32)
    return out


def _border(width: int, height: int) -> np.ndarray:
    """Corners and edge midpoints: fixed, so the warp covers the whole chip."""
    w, h = width - 1, height - 1
    return np.array(
        [[0, 0], [w / 2, 0], [w, 0], [w, h / 2], [w, h], [w / 2, h], [0, h], [0, h / 2]], dtype=np.float32
    )
