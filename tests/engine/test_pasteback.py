"""The ROI paste-back against insightface's full-frame ``INSwapper.get(..., paste_back=True)``.

Both sides paste the same swapped crop (insightface's own ``paste_back=False`` output, from the same
tiny inswapper-shaped model) for the same faces, so any difference is the paste-back's.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.onnx.pasteback import RegionWarp, WarpModel, paste_back, paste_back_into, paste_region, warp_model
from engine.onnx.runtime import get_session
from tests.fakemodels.swap_models import ASTRONAUT_KPS, T1_KPS, write_swapper

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

BIG_SCALE = np.array([4300 / 1280, 3000 / 886])  # t1.jpg stretched to 4300x3000, then 300 px cut off
BIG_CUT = 300


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    from insightface.model_zoo.inswapper import INSwapper

    path: Path = write_swapper(tmp_path_factory.mktemp("swapper"))
    return INSwapper(model_file=str(path), session=get_session(path, ["cpu"]))


@pytest.fixture(scope="module")
def big_photo(group_photo: np.ndarray) -> np.ndarray:
    """A 12-megapixel (4000x3000) photo whose leftmost face's crop reaches past the left border."""
    return np.ascontiguousarray(cv2.resize(group_photo, (4300, 3000))[:, BIG_CUT:])


def _faces(kps: np.ndarray):
    from insightface.app.common import Face as InsightFace

    embedding = np.random.default_rng(3).normal(size=512).astype(np.float32)
    return InsightFace(kps=np.asarray(kps, np.float64)), InsightFace(embedding=embedding)


def _swap_both(reference, frame: np.ndarray, all_kps: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ours and insightface's result of swapping the faces one after another."""
    ours, theirs = frame.copy(), frame.copy()
    for kps in all_kps:
        target, source = _faces(kps)
        crop, matrix = reference.get(theirs, target, source, paste_back=False)
        paste_back_into(ours, crop, matrix)
        theirs = reference.get(theirs, target, source, paste_back=True)
    return ours, theirs


def _assert_swapped(result: np.ndarray, original: np.ndarray, kps: np.ndarray) -> None:
    """The face between the key points really changed (a no-op paste-back would pass parity too)."""
    x0, y0 = np.floor(kps.min(axis=0)).astype(int).clip(0)
    x1, y1 = np.ceil(kps.max(axis=0)).astype(int)
    change = np.abs(result[y0:y1, x0:x1].astype(int) - original[y0:y1, x0:x1].astype(int)).mean()
    assert change > 10


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_region_warp_reproduces_full_frame_warp() -> None:
    model = warp_model()
    if model.kind != "vector":
        pytest.skip(f"this OpenCV's warpAffine arithmetic is not modelled ({model})")
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    white = np.full((128, 128), 255, np.float32)
    angle, scale = 0.3, 3.7
    inverse = np.array(
        [
            [scale * math.cos(angle), -scale * math.sin(angle), 1234.56],
            [scale * math.sin(angle), scale * math.cos(angle), 987.65],
        ]
    )
    width, height = 2001, 1500
    roi = (1003, 911, 1777, 1499)
    warp = RegionWarp(inverse, roi, width, model)
    for src in (crop, white):
        full = cv2.warpAffine(src, inverse, (width, height), borderValue=0.0)
        assert np.array_equal(warp(src), full[roi[1] : roi[3], roi[0] : roi[2]])


def test_parity_astronaut(reference, astronaut: np.ndarray) -> None:
    ours, theirs = _swap_both(reference, astronaut, [ASTRONAUT_KPS])
    assert _max_diff(ours, theirs) <= 1
    _assert_swapped(ours, astronaut, ASTRONAUT_KPS)


def test_parity_group_photo_all_faces(reference, group_photo: np.ndarray) -> None:
    ours, theirs = _swap_both(reference, group_photo, list(T1_KPS))
    assert _max_diff(ours, theirs) <= 1
    for kps in T1_KPS:
        _assert_swapped(ours, group_photo, kps)


def test_parity_face_cut_by_the_border(reference, group_photo: np.ndarray) -> None:
    frame = np.ascontiguousarray(group_photo[:, 110:])
    kps = T1_KPS[0] - [110, 0]  # the left eye is now outside the picture
    assert kps[:, 0].min() < 0
    ours, theirs = _swap_both(reference, frame, [kps])
    assert _max_diff(ours, theirs) <= 1
    _assert_swapped(ours, frame, kps)


@pytest.mark.parametrize("face", [2, 0], ids=["centre", "border"])
def test_parity_12_megapixels(reference, big_photo: np.ndarray, face: int) -> None:
    kps = T1_KPS[face] * BIG_SCALE - [BIG_CUT, 0]
    ours, theirs = _swap_both(reference, big_photo, [kps])
    assert _max_diff(ours, theirs) <= 1
    _assert_swapped(ours, big_photo, kps)


def test_only_the_region_is_touched(reference, big_photo: np.ndarray) -> None:
    target, source = _faces(T1_KPS[0] * BIG_SCALE - [BIG_CUT, 0])
    crop, matrix = reference.get(big_photo, target, source, paste_back=False)
    result = paste_back(big_photo, crop, matrix)
    x0, y0, x1, y1 = paste_region(big_photo.shape, matrix, crop.shape[0])
    assert x0 == 0  # the region is clipped at the border the face's crop reaches past
    outside = np.ones(big_photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result[outside], big_photo[outside])
    assert (x1 - x0) * (y1 - y0) < 0.05 * big_photo.shape[0] * big_photo.shape[1]


def test_region_hugs_the_warped_crop(reference, group_photo: np.ndarray) -> None:
    """The region covers where insightface's full-frame warp of the crop's square is non-zero, and
    at most a few pixels more: the work is proportional to the face, not to the photo."""
    height, width = group_photo.shape[:2]
    for kps in T1_KPS:
        target, source = _faces(kps)
        _, matrix = reference.get(group_photo, target, source, paste_back=False)
        white = cv2.warpAffine(
            np.full((128, 128), 255, np.float32),
            cv2.invertAffineTransform(matrix),
            (width, height),
            borderValue=0.0,
        )
        rows, cols = np.nonzero(white)
        x0, y0, x1, y1 = paste_region(group_photo.shape, matrix, 128)
        assert x0 <= cols.min() and y0 <= rows.min() and x1 > cols.max() and y1 > rows.max()
        assert cols.min() - x0 <= 4 or x0 == 0
        assert rows.min() - y0 <= 4 or y0 == 0
        assert x1 - 1 - cols.max() <= 4 or x1 == width
        assert y1 - 1 - rows.max() <= 4 or y1 == height


def test_face_outside_the_frame_changes_nothing(reference, astronaut: np.ndarray) -> None:
    target, source = _faces(ASTRONAUT_KPS)
    crop, matrix = reference.get(astronaut, target, source, paste_back=False)
    away = matrix.copy()
    away[:, 2] += away[:, :2] @ np.array([3000.0, 0.0])  # the same face 3000 px right of the image
    frame = astronaut.copy()
    assert paste_back_into(frame, crop, away) is None
    assert np.array_equal(frame, astronaut)


def test_shifted_fallback_stays_within_one_level(reference, group_photo: np.ndarray) -> None:
    """Without a matching warp model the ROI is warped with a shifted matrix: still within tolerance."""
    for kps in T1_KPS:
        target, source = _faces(kps)
        crop, matrix = reference.get(group_photo, target, source, paste_back=False)
        expected = reference.get(group_photo, target, source, paste_back=True)
        ours = paste_back(group_photo, crop, matrix, WarpModel("shifted"))
        assert _max_diff(ours, expected) <= 1
