"""Face and Identity dataclasses, reading order, the numbered preview for a face picker, and matching
the faces two detectors found by their boxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Face:
    """One detected face, in the coordinates of the image it was found in.

    box: (x1, y1, x2, y2) float; kps: 5x2 float32 (left eye, right eye, nose, left and right mouth
    corners, as the viewer sees them); landmarks: 68x2 float32 when the backend has them;
    embedding: identity vector made by ``embedding_model``, as that model defines it (ArcFace:
    L2-normalised, compared by cosine; dlib: raw 128-d, compared by Euclidean distance, 0.6 threshold).
    """

    box: np.ndarray
    score: float
    kps: np.ndarray
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    embedding_model: str | None = None

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0

    @property
    def size(self) -> float:
        x1, y1, x2, y2 = self.box
        return float(max(x2 - x1, y2 - y1))


@dataclass
class Identity:
    """A face to put into other pictures: what a saved face keeps (never the original photo).

    chip: aligned BGR crop around the face; kps/landmarks in chip coordinates; embeddings keyed by
    the model that made them, so one engine never silently uses another's vector.
    """

    chip: np.ndarray
    kps: np.ndarray
    landmarks: np.ndarray | None = None
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


def reading_order(faces: Sequence[Face]) -> list[Face]:
    """Sort faces left to right, then top to bottom, grouping faces into rows.

    Two faces share a row when their vertical centres differ by less than half the smaller face's
    height, so a group photo reads row by row, each row left to right.
    """
    remaining = sorted(faces, key=lambda f: f.center[1])
    rows: list[list[Face]] = []
    for face in remaining:
        for row in rows:
            ref = row[0]
            tolerance = 0.5 * min(ref.size, face.size)
            if abs(ref.center[1] - face.center[1]) < tolerance:
                row.append(face)
                break
        else:
            rows.append([face])
    rows.sort(key=lambda r: min(f.center[1] for f in r))
    return [f for row in rows for f in sorted(row, key=lambda f: f.center[0])]


def largest(faces: Sequence[Face], limit: int | None) -> list[Face]:
    """The ``limit`` largest faces by box area (all when None), in the order given: reading order
    stays reading order, renumbered 1..limit. Equal areas keep the earlier face."""
    if limit is None or len(faces) <= limit:
        return list(faces)
    areas = [(face.box[2] - face.box[0]) * (face.box[3] - face.box[1]) for face in faces]
    kept = set(sorted(range(len(faces)), key=lambda i: -float(areas[i]))[:limit])
    return [face for i, face in enumerate(faces) if i in kept]


def select_faces(faces: Sequence[Face], numbers: Sequence[int] | None) -> list[Face]:
    """Pick faces by 1-based number in reading order; ``None`` means all of them."""
    from engine.errors import FaceIndexError, NoFaceFound

    if not faces:
        raise NoFaceFound()
    if numbers is None:
        return list(faces)
    bad = [n for n in numbers if not 1 <= n <= len(faces)]
    if bad:
        raise FaceIndexError(bad[0], len(faces))
    return [faces[n - 1] for n in dict.fromkeys(numbers)]


def preview(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of the image with each face boxed and numbered 1..n, for "which face?" pickers."""
    out = image.copy()
    scale = max(image.shape[:2]) / 1000.0
    thickness = max(2, round(3 * scale))
    for number, face in enumerate(faces, start=1):
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 220, 255), thickness, cv2.LINE_AA)
        label = str(number)
        font_scale = max(0.6, 0.9 * scale, (x2 - x1) / 120.0)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = y1 - 4 if y1 - th - base - 4 >= 0 else min(y2 + th + 4, out.shape[0] - base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 6, ty + base), (0, 220, 255), -1)
        cv2.putText(
            out, label, (x1 + 3, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return out


# 512 px: the face spans about 220 px of the chip, so a large target face gets source pixels instead of
# an upscaled 110 px face (visibly soft at 256). A stored chip is a JPEG of about 40 KB at this size.
IDENTITY_CHIP_SIZE = 512
# The ArcFace template shrunk to the middle of the chip, so the whole head (jaw, brows, some hair)
# fits inside: the classic swapper needs pixels around the 68 landmarks, not just the inner face.
_CHIP_FACE_FRACTION = 0.5


def identity_from(image: np.ndarray, face: Face, size: int = IDENTITY_CHIP_SIZE) -> Identity:
    """Cut the aligned chip a saved face keeps, with key points and landmarks moved into it."""
    from engine.align import ARCFACE_TEMPLATE, transform_points, umeyama_similarity

    dst = (ARCFACE_TEMPLATE / 112.0 - 0.5) * size * _CHIP_FACE_FRACTION + size * 0.5
    matrix = umeyama_similarity(face.kps, dst)
    chip = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    landmarks = None if face.landmarks is None else transform_points(face.landmarks, matrix)
    embeddings = {} if face.embedding is None else {face.embedding_model or "unknown": face.embedding}
    return Identity(
        chip=chip, kps=transform_points(face.kps, matrix), landmarks=landmarks, embeddings=embeddings
    )


# dlib's boxes are tighter than SCRFD's (brows to chin against hairline to chin): the same face overlaps
# by about 0.5-0.7, two neighbouring faces by far less.
MATCH_MIN_IOU = 0.3


def match_by_box(faces: Sequence[Face], others: Sequence[Face]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of ``faces[i]`` and ``others[j]`` that are the same face: the best-overlapping
    pairs first, each face in at most one pair, none under ``MATCH_MIN_IOU``."""
    candidates = sorted(
        ((iou(face.box, other.box), i, j) for i, face in enumerate(faces) for j, other in enumerate(others)),
        reverse=True,
    )
    pairs: list[tuple[int, int]] = []
    used_i: set[int] = set()
    used_j: set[int] = set()
    for overlap, i, j in candidates:
        if overlap < MATCH_MIN_IOU:
            break
        if i not in used_i and j not in used_j:
            pairs.append((i, j))
            used_i.add(i)
            used_j.add(j)
    return sorted(pairs)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0
