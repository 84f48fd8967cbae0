"""Local caricature: exaggerate how a face differs from the average face, then warp the picture.

Each face's 68 landmarks are compared with the mean face shape aligned to them by a similarity
(so only shape, not position, size or roll, counts); the differences are scaled up and the image is
warped piecewise-affinely so the landmarks land on their exaggerated places. Two rings of points
around each face (one following the face halfway, one fixed) and fixed points on the frame make the
mesh cover the whole picture, so the background bends smoothly and never tears, and nothing outside
the fixed ring moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.align import transform_points, umeyama_similarity
from engine.classic.warp import delaunay, piecewise_affine_maps
from engine.errors import EngineError
from engine.face import Face

# The mean 68-point face shape (iBUG 300-W markup) in the unit square of a face detector's box: the
# ``initial_shape`` stored in dlib's shape_predictor_68_face_landmarks.dat (shipped by the PyPI
# package face-recognition-models), i.e. the average of the iBUG 300-W training shapes dlib was
# trained on, read once from the file's header and rounded to 4 decimals. It is left-right symmetric.
MEAN_SHAPE_68 = np.array(
    [
        # jaw, 0-16
        [0.0294, 0.3219], [0.0326, 0.4464], [0.0459, 0.5704], [0.0718, 0.6920], [0.1203, 0.8050],
        [0.1947, 0.9029], [0.2858, 0.9846], [0.3863, 1.0502], [0.5000, 1.0697], [0.6137, 1.0502],
        [0.7142, 0.9846], [0.8053, 0.9029], [0.8797, 0.8050], [0.9282, 0.6920], [0.9541, 0.5704],
        [0.9674, 0.4464], [0.9706, 0.3219],
        # eyebrows, 17-26
        [0.1192, 0.2309], [0.1775, 0.1784], [0.2598, 0.1627], [0.3451, 0.1749], [0.4249, 0.2081],
        [0.5751, 0.2081], [0.6550, 0.1749], [0.7402, 0.1627], [0.8225, 0.1784], [0.8809, 0.2309],
        # nose, 27-35
        [0.5000, 0.3055], [0.5000, 0.3857], [0.5000, 0.4652], [0.5000, 0.5470], [0.4045, 0.6023],
        [0.4504, 0.6192], [0.5000, 0.6337], [0.5497, 0.6192], [0.5955, 0.6023],
        # eyes, 36-47
        [0.2139, 0.3156], [0.2647, 0.2863], [0.3259, 0.2872], [0.3794, 0.3276], [0.3221, 0.3378],
        [0.2612, 0.3370], [0.6207, 0.3276], [0.6742, 0.2872], [0.7353, 0.2863], [0.7862, 0.3156],
        [0.7388, 0.3370], [0.6780, 0.3378],
        # mouth, 48-67
        [0.3171, 0.7511], [0.3844, 0.7242], [0.4525, 0.7103], [0.5000, 0.7220], [0.5475, 0.7103],
        [0.6156, 0.7242], [0.6829, 0.7511], [0.6178, 0.8169], [0.5516, 0.8460], [0.5000, 0.8515],
        [0.4484, 0.8460], [0.3823, 0.8169], [0.3452, 0.7547], [0.4519, 0.7499], [0.5000, 0.7550],
        [0.5481, 0.7499], [0.6548, 0.7547], [0.5490, 0.7857], [0.5000, 0.7916], [0.4510, 0.7857],
    ],
    dtype=np.float32,
)  # fmt: skip

# Strength 1 multiplies each landmark's offset from the mean by 1 + _GAIN: clearly a caricature, still
# recognisably the person.
_GAIN = 2.0
# The rings, as multiples of the landmarks' half-extent around their centre: the inner ring follows the
# face by _INNER_FOLLOW of the nearby landmarks' motion (forehead, ears, neck), the outer one is fixed.
_INNER_RING, _OUTER_RING, _RING_POINTS = 1.45, 2.3, 24
_INNER_FOLLOW = 0.5
# Every triangle keeps at least this fraction of its area and its orientation: the mesh never folds.
_MIN_AREA_RATIO = 0.2
_SHRINK, _SHRINK_ROUNDS = 0.75, 40
_MOVED = 1e-3  # pixels: maps closer than this to the identity keep the original pixel exactly


class LandmarksRequired(EngineError):
    """The face has no 68 landmarks (the ONNX engine gives only 5 key points): use the classic engine."""

    code = "landmarks_required"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or "caricature needs 68 face landmarks; detect faces with the classic engine")


@dataclass
class CaricatureMesh:
    """The warp: mesh points in the input (``src``), where they go (``dst``), the triangles, and the
    image regions (x0, y0, x1, y1, exclusive ends) that contain every moving triangle."""

    src: np.ndarray
    dst: np.ndarray
    triangles: np.ndarray
    rois: list[tuple[int, int, int, int]]


def _landmarks(face: Face) -> np.ndarray:
    if face.landmarks is None or np.shape(face.landmarks) != (68, 2):
        raise LandmarksRequired()
    return np.asarray(face.landmarks, dtype=np.float64)


def exaggerated_landmarks(landmarks: np.ndarray, strength: float) -> np.ndarray:
    """The 68 landmarks moved away from the mean shape (aligned to them) by ``strength``."""
    points = np.asarray(landmarks, dtype=np.float64)
    mean = transform_points(MEAN_SHAPE_68, umeyama_similarity(MEAN_SHAPE_68, points)).astype(np.float64)
    return points + _GAIN * strength * (points - mean)


def _ring(center: np.ndarray, half: np.ndarray, factor: float) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * np.pi, _RING_POINTS, endpoint=False)
    ring: np.ndarray = center + factor * half * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return ring


def _follow(points: np.ndarray, anchors: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Inverse-distance-weighted motion of ``anchors`` at ``points``: a smooth field, no new extremes."""
    dist2 = ((points[:, None, :] - anchors[None, :, :]) ** 2).sum(axis=2) + 1e-6
    weights = 1.0 / dist2
    field: np.ndarray = (weights @ motion) / weights.sum(axis=1, keepdims=True)
    return field


def _signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]] for k in range(3))
    areas: np.ndarray = 0.5 * (
        (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    )
    return areas


def _folding(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Triangles that flip or collapse below the allowed fraction of their area (a triangle with no
    area folds as soon as any corner moves)."""
    before, after = _signed_areas(src, triangles), _signed_areas(dst, triangles)
    moved = np.abs(dst - src).max(axis=1) > 0
    squashed = after * np.sign(before) < _MIN_AREA_RATIO * np.abs(before)
    folding: np.ndarray = np.where(np.abs(before) < 1e-9, moved[triangles].any(axis=1), squashed)
    return folding


def _unfold(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Pull back the points of folding triangles until none folds.

    Only the offending points shrink towards their rest position, so one awkward triangle (a profile
    jaw, a landmark outside the picture) does not tame the whole face. Should rounds run out, the
    remaining motion is scaled down as a whole by bisection; no motion at all never folds.
    """
    motion: np.ndarray = dst - src
    # Shrinking never gets a triangle with no area (collinear points) back to no motion: pin its corners.
    flat = np.abs(_signed_areas(src, triangles)) < 1e-9
    motion[np.unique(triangles[flat])] = 0.0
    for _ in range(_SHRINK_ROUNDS):
        moved: np.ndarray = src + motion
        bad = _folding(src, moved, triangles)
        if not bad.any():
            return moved
        motion[np.unique(triangles[bad])] *= _SHRINK
    low, high = 0.0, 1.0
    for _ in range(20):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if not _folding(src, src + mid * motion, triangles).any() else (low, mid)
    unfolded: np.ndarray = src + low * motion
    return unfolded


def _clip_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def caricature_mesh(shape: tuple[int, ...], faces: Sequence[Face], strength: float) -> CaricatureMesh:
    """The warp that exaggerates ``faces`` in an image of ``shape``; see ``exaggerate``."""
    height, width = shape[:2]
    landmark_sets = [_landmarks(face) for face in faces]
    extents = []  # (centre, half size) of each face's landmarks
    for pts in landmark_sets:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extents.append(((lo + hi) / 2.0, np.maximum((hi - lo) / 2.0, 1.0)))

    def inside_other_face(points: np.ndarray, own: int) -> np.ndarray:
        hit = np.zeros(len(points), dtype=bool)
        for k, (center, half) in enumerate(extents):
            if k != own:
                hit |= np.all(np.abs(points - center) <= 1.1 * half, axis=1)
        return hit

    src_parts, dst_parts, owner_parts = [], [], []
    for k, (pts, (center, half)) in enumerate(zip(landmark_sets, extents, strict=True)):
        target = exaggerated_landmarks(pts, strength)
        # Rings are round in the face's own proportions; the inner one sits a little higher so the
        # forehead, which no landmark covers, moves with the brows.
        inner = _ring(center - [0.0, 0.25 * half[1]], half, _INNER_RING)
        outer = _ring(center - [0.0, 0.25 * half[1]], half, _OUTER_RING)
        # Ring points inside a neighbour's face would pin or drag that face: leave them out.
        inner = inner[~inside_other_face(inner, k)]
        outer = outer[~inside_other_face(outer, k)]
        inner_target = inner + _INNER_FOLLOW * _follow(inner, pts, target - pts)
        src_parts += [pts, inner, outer]
        dst_parts += [target, inner_target, outer]
        owner_parts += [np.full(len(pts) + len(inner), k), np.full(len(outer), -1)]

    # The frame: the picture, grown to hold every mesh point, with fixed points on its edges and the
    # picture's own corners, so every pixel lies in some triangle.
    everything = np.concatenate([*src_parts, *dst_parts, [[0.0, 0.0], [width - 1.0, height - 1.0]]])
    fx0, fy0 = np.floor(everything.min(axis=0)) - 1
    fx1, fy1 = np.ceil(everything.max(axis=0)) + 1
    steps = np.linspace(0.0, 1.0, 5)
    frame = np.concatenate(
        [
            np.stack([fx0 + steps * (fx1 - fx0), np.full(5, fy0)], axis=1),
            np.stack([fx0 + steps * (fx1 - fx0), np.full(5, fy1)], axis=1),
            np.stack([np.full(3, fx0), fy0 + steps[1:4] * (fy1 - fy0)], axis=1),
            np.stack([np.full(3, fx1), fy0 + steps[1:4] * (fy1 - fy0)], axis=1),
            [[0.0, 0.0], [width - 1.0, 0.0], [0.0, height - 1.0], [width - 1.0, height - 1.0]],
        ]
    )
    src = np.concatenate([*src_parts, frame])
    dst = np.concatenate([*dst_parts, frame])
    owner = np.concatenate([*owner_parts, np.full(len(frame), -1)])

    origin = np.array([fx0, fy0])
    triangles = delaunay(src - origin, int(fx1 - fx0) + 1, int(fy1 - fy0) + 1)
    dst = _unfold(src, dst, triangles)

    # One region per face: the box around every triangle that has a moving corner of that face.
    moving = np.abs(dst - src).max(axis=1) > _MOVED
    rois = []
    for k in range(len(faces)):
        tris = triangles[(moving[triangles] & (owner[triangles] == k)).any(axis=1)]
        if len(tris):
            corners = np.concatenate([src[tris.ravel()], dst[tris.ravel()]])
            box = _clip_box(corners, width, height)
            if box is not None:
                rois.append(box)
    return CaricatureMesh(src.astype(np.float32), dst.astype(np.float32), triangles, rois)


def exaggerate(image: np.ndarray, faces: Sequence[Face], strength: float) -> np.ndarray:
    """A copy of ``image`` with each face's landmark offsets from the mean face scaled by ``strength``.

    0 returns the input unchanged, 1 is a clear caricature; pixels outside the faces' surroundings keep
    their exact values. Every face needs 68 landmarks (``LandmarksRequired`` otherwise).
    """
    if strength < 0:
        raise ValueError(f"strength must not be negative, not {strength}")
    for face in faces:
        _landmarks(face)
    out = image.copy()
    if strength == 0 or not faces:
        return out
    mesh = caricature_mesh(image.shape, faces, strength)
    for x0, y0, x1, y1 in mesh.rois:
        map_x, map_y, inside = piecewise_affine_maps(mesh.src, mesh.dst, mesh.triangles, (x0, y0, x1, y1))
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        moved = inside & ((np.abs(map_x - xs) > _MOVED) | (np.abs(map_y - ys) > _MOVED))
        # Sampled from the untouched input, so overlapping regions agree wherever they meet.
        warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        region = out[y0:y1, x0:x1]
        region[moved] = warped[moved]
    return out
