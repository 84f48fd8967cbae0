"""The classic backend on real photos: dlib detection, descriptors, and the triangle-warp swap."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from skimage import data

from engine.align import kps_from_landmarks
from engine.base import FaceEngine
from engine.classic.backend import (
    EMBEDDING_MODEL,
    MATCH_DISTANCE,
    ClassicEngine,
    descriptor_distance,
)
from engine.classic.blend import feather_mask, seamless_blend
from engine.classic.colour import transfer_lab
from engine.errors import NoFaceFound
from engine.face import IDENTITY_CHIP_SIZE, Face, Identity, select_faces

# -- helpers ---------------------------------------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def near_boxes(shape: tuple[int, ...], faces: list[Face], factor: float = 1.5) -> np.ndarray:
    """True inside each face box scaled by ``factor`` about its centre."""
    mask = np.zeros(shape[:2], dtype=bool)
    for face in faces:
        cx, cy = face.center
        half_w = (face.box[2] - face.box[0]) * factor / 2
        half_h = (face.box[3] - face.box[1]) * factor / 2
        y0, y1 = max(0, int(cy - half_h)), int(np.ceil(cy + half_h)) + 1
        x0, x1 = max(0, int(cx - half_w)), int(np.ceil(cx + half_w)) + 1
        mask[y0:y1, x0:x1] = True
    return mask


def box_slice(face: Face) -> tuple[slice, slice]:
    x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
    return slice(max(0, y1), y2), slice(max(0, x1), x2)


def changed_fraction(a: np.ndarray, b: np.ndarray, face: Face) -> float:
    region = box_slice(face)
    return float(np.any(a[region] != b[region], axis=2).mean())


def assert_swapped(result_faces: list[Face], originals: list[Face], source: np.ndarray) -> None:
    """Every original face is found again, and now looks more like ``source`` than like itself."""
    for number, face in enumerate(originals, start=1):
        match = max(result_faces, key=lambda f: iou(f.box, face.box))
        assert iou(match.box, face.box) > 0.5, f"face {number} not found again after the swap"
        to_source = descriptor_distance(match.embedding, source)
        to_original = descriptor_distance(match.embedding, face.embedding)
        assert to_source < to_original, (
            f"face {number}: {to_source:.3f} to source, {to_original:.3f} to target"
        )


# -- module fixtures: every photo is detected once --------------------------------------------------


@pytest.fixture(scope="module")
def astro_identity(engine: ClassicEngine, astronaut: np.ndarray, astronaut_faces: list[Face]) -> Identity:
    return engine.identity(astronaut, astronaut_faces[0])


@pytest.fixture(scope="module")
def t1_swapped(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face], astro_identity: Identity
) -> np.ndarray:
    return engine.swap(group_photo, group_faces, astro_identity)


# -- detection ---------------------------------------------------------------------------------------


def test_is_a_face_engine(engine: ClassicEngine) -> None:
    typed: FaceEngine = engine  # type checkers hold it to the protocol
    assert (typed.name, typed.embedding_model) == ("classic", "dlib_resnet_v1")


def test_t1_has_six_faces_in_reading_order(group_faces: list[Face]) -> None:
    # Rows as the photo shows them: the man standing at the back right, the woman behind on the
    # left, the three seated at eye level left to right, then the man leaning lower in the middle.
    expected = [(934, 131), (319, 220), (121, 336), (503, 348), (1172, 336), (778, 420)]
    assert len(group_faces) == 6
    for face, (x, y) in zip(group_faces, expected, strict=True):
        assert abs(face.center[0] - x) < 20 and abs(face.center[1] - y) < 20, (face.center, (x, y))


def test_faces_carry_landmarks_key_points_and_descriptors(group_faces: list[Face]) -> None:
    for face in group_faces:
        assert face.landmarks is not None and face.landmarks.shape == (68, 2)
        assert face.kps.shape == (5, 2)
        np.testing.assert_allclose(face.kps, kps_from_landmarks(face.landmarks))
        left_eye, right_eye, nose, mouth_left, mouth_right = face.kps
        assert left_eye[0] < nose[0] < right_eye[0]  # viewer's left first, as insightface
        assert mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        x1, y1, x2, y2 = face.box
        assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2
        assert face.embedding is not None and face.embedding.shape == (128,)
        assert face.embedding_model == EMBEDDING_MODEL
        assert face.score > 0


def test_astronaut_and_hanks_have_one_face(
    astronaut_faces: list[Face], hanks_faces: list[Face], astronaut: np.ndarray
) -> None:
    # HOG also fires weakly on the round mission patch on the suit; the aligned re-check drops it.
    assert len(astronaut_faces) == 1
    assert 190 < astronaut_faces[0].center[0] < 250 and 95 < astronaut_faces[0].center[1] < 150
    assert len(hanks_faces) == 1


def test_descriptors_tell_people_apart(
    engine: ClassicEngine, astronaut: np.ndarray, astronaut_faces: list[Face], group_faces: list[Face]
) -> None:
    mirrored = engine.detect(np.ascontiguousarray(astronaut[:, ::-1]))
    assert len(mirrored) == 1
    assert descriptor_distance(mirrored[0].embedding, astronaut_faces[0].embedding) < MATCH_DISTANCE
    for face in group_faces:
        assert descriptor_distance(face.embedding, astronaut_faces[0].embedding) > MATCH_DISTANCE


def test_large_photos_detect_on_a_reduced_copy_but_keep_full_resolution(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face]
) -> None:
    big = cv2.resize(group_photo, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)  # 2560 px wide
    faces = engine.detect(big)
    assert len(faces) == 6
    for face, small in zip(faces, group_faces, strict=True):
        assert iou(face.box, small.box * 2) > 0.6
        # Landmarks come from the full-resolution image: twice the small ones, give or take a few px.
        assert np.abs(face.landmarks - small.landmarks * 2).mean() < 4.0


def test_no_face_in_a_blank_picture_or_a_landscape(engine: ClassicEngine) -> None:
    rocket = cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR)
    for picture in (np.full((480, 640, 3), 200, np.uint8), rocket):
        faces = engine.detect(picture)
        assert faces == []
        with pytest.raises(NoFaceFound):
            select_faces(faces, None)


def test_cnn_detector_finds_the_same_face(hanks: np.ndarray, hanks_faces: list[Face]) -> None:
    faces = ClassicEngine(detector="cnn").detect(hanks)
    assert len(faces) == 1
    assert iou(faces[0].box, hanks_faces[0].box) > 0.5
    assert descriptor_distance(faces[0].embedding, hanks_faces[0].embedding) < 0.2


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(ValueError, match="detector"):
        ClassicEngine(detector="yolo")


# -- identity ------------------------------------------------------------------------------------------


def test_identity_keeps_the_descriptor_and_landmarks_in_the_chip(
    astro_identity: Identity, astronaut_faces: list[Face]
) -> None:
    assert astro_identity.chip.shape == (IDENTITY_CHIP_SIZE, IDENTITY_CHIP_SIZE, 3)
    np.testing.assert_array_equal(astro_identity.embeddings[EMBEDDING_MODEL], astronaut_faces[0].embedding)
    assert astro_identity.landmarks is not None and astro_identity.landmarks.shape == (68, 2)
    assert np.all((astro_identity.landmarks > 0) & (astro_identity.landmarks < IDENTITY_CHIP_SIZE))
    np.testing.assert_allclose(kps_from_landmarks(astro_identity.landmarks), astro_identity.kps, atol=1e-3)


def test_identity_of_a_bare_face_computes_landmarks_and_descriptor(
    engine: ClassicEngine, astronaut: np.ndarray, astronaut_faces: list[Face]
) -> None:
    found = astronaut_faces[0]
    bare = Face(box=found.box, score=found.score, kps=found.kps)  # as another backend would give it
    identity = engine.identity(astronaut, bare)
    assert identity.landmarks is not None
    assert descriptor_distance(identity.embeddings[EMBEDDING_MODEL], found.embedding) < 0.05


# -- swap ----------------------------------------------------------------------------------------------


def test_astronaut_into_every_face_of_t1(
    engine: ClassicEngine, t1_swapped: np.ndarray, group_faces: list[Face], astronaut_faces: list[Face]
) -> None:
    assert_swapped(engine.detect(t1_swapped), group_faces, astronaut_faces[0].embedding)


def test_swap_leaves_everything_away_from_the_faces_untouched(
    group_photo: np.ndarray, t1_swapped: np.ndarray, group_faces: list[Face]
) -> None:
    assert t1_swapped.shape == group_photo.shape and t1_swapped.dtype == np.uint8
    away = ~near_boxes(group_photo.shape, group_faces)
    np.testing.assert_array_equal(t1_swapped[away], group_photo[away])
    for face in group_faces:
        assert changed_fraction(t1_swapped, group_photo, face) > 0.4


def test_hanks_into_the_astronaut(
    engine: ClassicEngine,
    astronaut: np.ndarray,
    hanks: np.ndarray,
    astronaut_faces: list[Face],
    hanks_faces: list[Face],
) -> None:
    result = engine.swap(astronaut, astronaut_faces, engine.identity(hanks, hanks_faces[0]))
    assert_swapped(engine.detect(result), astronaut_faces, hanks_faces[0].embedding)
    away = ~near_boxes(astronaut.shape, astronaut_faces)
    np.testing.assert_array_equal(result[away], astronaut[away])


def test_swapping_a_subset_changes_only_those_faces(
    engine: ClassicEngine,
    group_photo: np.ndarray,
    group_faces: list[Face],
    astro_identity: Identity,
    t1_swapped: np.ndarray,
) -> None:
    chosen = select_faces(group_faces, [1, 3])
    result = engine.swap(group_photo, chosen, astro_identity)
    away = ~near_boxes(group_photo.shape, chosen)
    np.testing.assert_array_equal(result[away], group_photo[away])
    for number, face in enumerate(group_faces, start=1):
        region = box_slice(face)
        if number in (1, 3):
            # Each face is swapped on its own: the same pixels as when all six are swapped.
            np.testing.assert_array_equal(result[region], t1_swapped[region])
            assert changed_fraction(result, group_photo, face) > 0.4
        else:
            np.testing.assert_array_equal(result[region], group_photo[region])


def test_face_cut_by_the_image_border_still_swaps(
    engine: ClassicEngine,
    astronaut: np.ndarray,
    hanks: np.ndarray,
    astronaut_faces: list[Face],
    hanks_faces: list[Face],
    astro_identity: Identity,
) -> None:
    # Tom Hanks' chin runs off the bottom of his 112 px photo.
    assert hanks_faces[0].landmarks[:, 1].max() >= hanks.shape[0] - 2
    result = engine.swap(hanks, hanks_faces, astro_identity)
    assert_swapped(engine.detect(result), hanks_faces, astronaut_faces[0].embedding)

    # The astronaut's face cut in half by the left edge (no detector finds half a face, so the
    # face found in the whole photo is moved into the crop's coordinates).
    dx = 220
    crop = np.ascontiguousarray(astronaut[:, dx:])
    found = astronaut_faces[0]
    shift = np.array([dx, 0], np.float32)
    cut = dataclasses.replace(
        found, box=found.box - np.tile(shift, 2), kps=found.kps - shift, landmarks=found.landmarks - shift
    )
    hanks_identity = engine.identity(hanks, hanks_faces[0])
    result = engine.swap(crop, [cut], hanks_identity)
    rows = slice(int(found.kps[:, 1].min()), int(found.kps[:, 1].max()))
    # The new face reaches the very first column: no frame of the old face is left at the edge.
    assert np.any(result[rows, 0] != crop[rows, 0])
    assert np.any(result[rows, :10] != crop[rows, :10], axis=2).mean() > 0.5
    away = ~near_boxes(crop.shape, [cut])
    np.testing.assert_array_equal(result[away], crop[away])


def test_identity_without_landmarks_finds_them_on_its_chip(
    engine: ClassicEngine,
    astronaut: np.ndarray,
    hanks: np.ndarray,
    hanks_faces: list[Face],
    astro_identity: Identity,
) -> None:
    # An identity saved by a backend without 68 landmarks still drives the classic warp.
    bare = Identity(chip=astro_identity.chip, kps=astro_identity.kps, embeddings=astro_identity.embeddings)
    with_marks = engine.swap(hanks, hanks_faces, astro_identity)
    without = engine.swap(hanks, hanks_faces, bare)
    region = box_slice(hanks_faces[0])
    assert changed_fraction(without, hanks, hanks_faces[0]) > 0.4
    diff = np.abs(without[region].astype(int) - with_marks[region].astype(int)).mean()
    assert diff < 3.0  # the same landmarks, give or take the predictor's wobble on a resampled chip


def test_identity_without_a_face_cannot_drive_the_warp(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face], astro_identity: Identity
) -> None:
    blank = Identity(chip=np.full_like(astro_identity.chip, 128), kps=astro_identity.kps)
    with pytest.raises(NoFaceFound):
        engine.swap(group_photo, group_faces[:1], blank)
    with pytest.raises(NoFaceFound):
        engine.swap(group_photo, [], astro_identity)


def test_targets_from_another_backend_get_landmarks_from_their_box(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face], astro_identity: Identity
) -> None:
    bare = [Face(box=f.box, score=f.score, kps=f.kps) for f in group_faces[:2]]
    np.testing.assert_array_equal(
        engine.swap(group_photo, bare, astro_identity),
        engine.swap(group_photo, group_faces[:2], astro_identity),
    )


def test_swap_refuses_images_that_are_not_bgr(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face], astro_identity: Identity
) -> None:
    with pytest.raises(ValueError, match="BGR"):
        engine.swap(cv2.cvtColor(group_photo, cv2.COLOR_BGR2GRAY), group_faces, astro_identity)


# -- colour transfer and blending ---------------------------------------------------------------------


def test_transfer_lab_matches_mean_and_spread_inside_the_mask() -> None:
    rng = np.random.default_rng(7)
    image = np.clip(rng.normal((90, 120, 160), 12, (64, 64, 3)), 0, 255).astype(np.uint8)
    reference = np.clip(rng.normal((60, 140, 200), 18, (64, 64, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:56] = True
    out = transfer_lab(image, reference, mask)

    def stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)[mask]
        return lab.mean(axis=0), lab.std(axis=0)

    (out_mean, out_std), (ref_mean, ref_std) = stats(out), stats(reference)
    np.testing.assert_allclose(out_mean, ref_mean, atol=1.0)
    np.testing.assert_allclose(out_std, ref_std, rtol=0.15, atol=0.5)
    np.testing.assert_array_equal(transfer_lab(image, reference, np.zeros_like(mask)), image)


def test_feathered_alpha_is_zero_outside_and_one_deep_inside() -> None:
    mask = np.zeros((80, 80), bool)
    mask[10:70, 10:70] = True
    alpha = feather_mask(mask, 6, 2.0)
    assert alpha.dtype == np.float32
    assert np.all(alpha[~mask] == 0)
    assert np.all(alpha[25:55, 25:55] == pytest.approx(1.0))
    assert 0 < alpha[40, 13] < 1  # a soft edge just inside the mask


def test_seamless_blend_touches_nothing_outside_and_handles_the_edge() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    overlay = np.full((60, 80, 3), 150, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[0:40, 0:50] = True  # touches the top and left edges
    alpha = feather_mask(mask, 3, 1.0)
    out = seamless_blend(base, overlay, mask, alpha)
    np.testing.assert_array_equal(out[alpha == 0], base[alpha == 0])
    inner = out[3:30, 3:40].astype(np.float32)
    # Inside, the flat overlay is kept flat (Poisson keeps its gradients), not the noisy base.
    assert inner.std(axis=(0, 1)).max() < base[3:30, 3:40].astype(np.float32).std(axis=(0, 1)).min() / 3
    # The corner pixels at the very edge are the overlay's too, not a frame of the base.
    assert np.abs(out[0, 5].astype(int) - inner.mean(axis=(0, 1))).max() < 40


def test_detect_without_embeddings_finds_the_same_faces(
    engine: ClassicEngine, group_photo: np.ndarray, group_faces: list[Face]
) -> None:
    bare = engine.detect(group_photo, embed=False)
    assert [f.embedding for f in bare] == [None] * 6
    for plain, full in zip(bare, group_faces, strict=True):
        np.testing.assert_array_equal(plain.landmarks, full.landmarks)
    # The identity of a face found without embeddings still gets its descriptor, the same one.
    identity = engine.identity(group_photo, bare[2])
    assert descriptor_distance(identity.embeddings[EMBEDDING_MODEL], group_faces[2].embedding) < 1e-4
