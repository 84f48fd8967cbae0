"""Face helpers: reading order, face selection by number, the numbered preview, identity chips."""

from __future__ import annotations

import numpy as np
import pytest

from engine.align import ARCFACE_TEMPLATE
from engine.errors import FaceIndexError, NoFaceFound
from engine.face import IDENTITY_CHIP_SIZE, Face, identity_from, preview, reading_order, select_faces


def face_at(cx: float, cy: float, size: float = 40.0, name: str = "") -> Face:
    half = size / 2
    return Face(
        box=np.array([cx - half, cy - half, cx + half, cy + half], np.float32),
        score=0.9,
        kps=np.zeros((5, 2), np.float32),
        embedding_model=name or None,  # a handy label for the test, nothing more
    )


def names(faces: list[Face]) -> list[str | None]:
    return [f.embedding_model for f in faces]


# -- reading order -------------------------------------------------------------------------------


def test_reading_order_reads_rows_top_to_bottom_each_left_to_right() -> None:
    # Two rows whose faces sit at slightly different heights; given in scrambled order.
    faces = [
        face_at(300, 310, name="e"),
        face_at(500, 105, name="c"),
        face_at(100, 295, name="d"),
        face_at(100, 112, name="a"),
        face_at(300, 95, name="b"),
    ]
    assert names(reading_order(faces)) == ["a", "b", "c", "d", "e"]


def test_reading_order_ties_and_a_lower_face_in_a_row_of_big_ones() -> None:
    # Equal heights keep left-to-right; a small face 40 px lower than big faces is a row of its own.
    faces = [
        face_at(200, 100, 120, "middle"),
        face_at(50, 100, 120, "left"),
        face_at(350, 100, 120, "right"),
        face_at(200, 140, 30, "small below"),
    ]
    assert names(reading_order(faces)) == ["left", "middle", "right", "small below"]
    # The same small face only 10 px lower belongs to the row.
    faces[3] = face_at(120, 110, 30, "small in row")
    assert names(reading_order(faces)) == ["left", "small in row", "middle", "right"]


def test_reading_order_of_nothing_is_nothing() -> None:
    assert reading_order([]) == []


# -- select_faces ----------------------------------------------------------------------------------


def test_select_faces_is_one_based_and_collapses_duplicates() -> None:
    faces = [face_at(100 * i, 100, name=str(i)) for i in range(1, 5)]
    assert names(select_faces(faces, [1])) == ["1"]
    assert names(select_faces(faces, [4, 2])) == ["4", "2"]
    assert names(select_faces(faces, [2, 2, 3, 2])) == ["2", "3"]
    assert select_faces(faces, None) == faces


@pytest.mark.parametrize("numbers", [[0], [5], [-1], [2, 9]])
def test_select_faces_out_of_range(numbers: list[int]) -> None:
    faces = [face_at(100 * i, 100) for i in range(1, 5)]
    with pytest.raises(FaceIndexError, match="4 face"):
        select_faces(faces, numbers)


def test_select_faces_without_faces() -> None:
    with pytest.raises(NoFaceFound):
        select_faces([], None)


# -- preview ------------------------------------------------------------------------------------------


def test_preview_boxes_and_numbers_each_face_on_a_copy() -> None:
    image = np.full((300, 400, 3), 40, np.uint8)
    original = image.copy()
    faces = [face_at(100, 150, 80), face_at(300, 150, 80)]
    out = preview(image, faces)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(image, original)  # the input is untouched
    for face in faces:
        x1, y1, x2, y2 = (int(v) for v in face.box)
        # The box outline is drawn in the highlight colour (BGR 0, 220, 255).
        np.testing.assert_array_equal(out[(y1 + y2) // 2, x1], [0, 220, 255])
        np.testing.assert_array_equal(out[(y1 + y2) // 2, x2], [0, 220, 255])
        # The middle of the face is left visible.
        np.testing.assert_array_equal(out[(y1 + y2) // 2, (x1 + x2) // 2], original[0, 0])
    # Far from any face nothing changes.
    np.testing.assert_array_equal(out[280:, :], original[280:, :])

    # Different numbers: the label patches above the two boxes differ, one shows "1", one "2".
    def label(face: Face) -> np.ndarray:
        x1, y1 = int(face.box[0]), int(face.box[1])
        return out[max(0, y1 - 40) : y1, x1 : x1 + 40]

    assert np.any(label(faces[0]) != original[0, 0])
    assert not np.array_equal(label(faces[0]), label(faces[1]))


# -- identity_from ------------------------------------------------------------------------------------


def test_identity_from_maps_key_points_onto_the_template_inside_the_chip() -> None:
    # A face whose key points are the ArcFace template turned by 20 degrees, scaled by 1.7, moved.
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    kps = (ARCFACE_TEMPLATE @ rot.T * 1.7 + [150, 90]).astype(np.float32)
    landmarks = np.vstack([kps, kps.mean(axis=0, keepdims=True)]).astype(np.float32)
    image = np.full((400, 400, 3), 30, np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for (x, y), colour in zip(kps, colours, strict=True):
        image[int(round(y)) - 3 : int(round(y)) + 4, int(round(x)) - 3 : int(round(x)) + 4] = colour
    embedding = np.arange(8, dtype=np.float32)
    face = Face(
        box=np.array([100, 50, 300, 300], np.float32),
        score=1.0,
        kps=kps,
        landmarks=landmarks,
        embedding=embedding,
        embedding_model="test_model",
    )
    identity = identity_from(image, face)

    size = IDENTITY_CHIP_SIZE
    expected = (ARCFACE_TEMPLATE / 112.0 - 0.5) * size * 0.5 + size * 0.5
    assert identity.chip.shape == (size, size, 3)
    np.testing.assert_allclose(identity.kps, expected, atol=0.05)
    # Landmarks go through the same transform: the extra point is the key points' centroid.
    np.testing.assert_allclose(identity.landmarks[:5], expected, atol=0.05)
    np.testing.assert_allclose(identity.landmarks[5], expected.mean(axis=0), atol=0.05)
    # The chip's pixels at the template positions are the dots painted at the key points.
    for (x, y), colour in zip(expected, colours, strict=True):
        np.testing.assert_array_equal(identity.chip[int(round(y)), int(round(x))], colour)
    np.testing.assert_array_equal(identity.embeddings["test_model"], embedding)


def test_identity_from_a_real_face(astronaut: np.ndarray) -> None:
    # Real key points are no exact similarity of the template, but land within a few pixels of it.
    kps = np.array([[203, 102], [246, 104], [225, 127], [201, 139], [246, 141]], np.float32)  # dlib's
    face = Face(box=np.array([175, 76, 265, 166], np.float32), score=1.0, kps=kps)
    identity = identity_from(astronaut, face, size=128)
    expected = (ARCFACE_TEMPLATE / 112.0 - 0.5) * 128 * 0.5 + 64
    assert identity.chip.shape == (128, 128, 3)
    assert np.abs(identity.kps - expected).max() < 4
    assert identity.landmarks is None and identity.embeddings == {}
