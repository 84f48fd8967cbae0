"""A saved face as bytes and back: ``to_stored`` / ``from_stored`` on real identities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.classic.backend import EMBEDDING_MODEL, ClassicEngine
from engine.errors import EmbeddingMissing, SavedFaceCorrupt
from engine.face import IDENTITY_CHIP_SIZE, Face, Identity, identity_from
from engine.stored import from_stored, to_stored


@pytest.fixture(scope="module")
def classic_identity(engine: ClassicEngine, astronaut: np.ndarray, astronaut_faces: list[Face]) -> Identity:
    return engine.identity(astronaut, astronaut_faces[0])


@pytest.fixture
def kps_identity(astronaut: np.ndarray, astronaut_faces: list[Face]) -> Identity:
    """An identity with key points only (as the onnx engine makes) and two models' embeddings."""
    face = astronaut_faces[0]
    bare = Face(box=face.box, score=face.score, kps=face.kps)
    identity = identity_from(astronaut, bare)
    rng = np.random.default_rng(7)
    identity.embeddings = {
        "arcface_w600k_r50": rng.standard_normal(512).astype(np.float32),
        "other": rng.standard_normal(128).astype(np.float32),
    }
    return identity


def chip_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_a_classic_identity_round_trips(classic_identity: Identity) -> None:
    stored = to_stored(classic_identity)
    assert stored.chip[:3] == b"\xff\xd8\xff"  # a JPEG, not the pixels
    assert len(stored.landmarks) == 68 and all(len(point) == 2 for point in stored.landmarks)
    assert set(stored.embeddings) == {EMBEDDING_MODEL}
    assert len(stored.embeddings[EMBEDDING_MODEL]) == 128 * 4

    back = from_stored(stored)
    assert back.chip.shape == (IDENTITY_CHIP_SIZE, IDENTITY_CHIP_SIZE, 3)
    assert chip_difference(back.chip, classic_identity.chip) < 2.0  # JPEG's loss only
    assert back.landmarks is not None
    np.testing.assert_array_equal(back.landmarks, classic_identity.landmarks)
    np.testing.assert_allclose(back.kps, classic_identity.kps, atol=1e-4)  # derived from the landmarks
    vector = classic_identity.embeddings[EMBEDDING_MODEL]
    np.testing.assert_array_equal(back.embeddings[EMBEDDING_MODEL], vector)


def test_key_points_only_and_every_embedding_round_trip(kps_identity: Identity) -> None:
    stored = to_stored(kps_identity)
    assert len(stored.landmarks) == 5
    # float32 little-endian, whatever the machine: the bytes other processes will read
    expected = kps_identity.embeddings["other"].astype("<f4").tobytes()
    assert stored.embeddings["other"] == expected

    back = from_stored(stored)
    assert back.landmarks is None
    np.testing.assert_array_equal(back.kps, kps_identity.kps)
    assert set(back.embeddings) == {"arcface_w600k_r50", "other"}
    for model, vector in kps_identity.embeddings.items():
        assert back.embeddings[model].dtype == np.float32
        np.testing.assert_array_equal(back.embeddings[model], vector)


def test_an_engine_gets_only_its_own_embedding(kps_identity: Identity) -> None:
    stored = to_stored(kps_identity)
    back = from_stored(stored, "other")
    assert set(back.embeddings) == {"other"}
    with pytest.raises(EmbeddingMissing) as missing:
        from_stored(stored, EMBEDDING_MODEL)
    assert (missing.value.code, missing.value.params) == ("embedding_missing", {"model": EMBEDDING_MODEL})
    assert missing.value.permanent


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"landmarks": [[1.0, 2.0]] * 7}, "7 landmarks"),
        ({"landmarks": [[1.0, 2.0], [3.0]]}, "not pairs of numbers"),
        ({"landmarks": [["x", "y"]] * 5}, "not pairs of numbers"),
        ({"chip": b"not a jpeg at all"}, "chip"),
        ({"embeddings": {"other": b"\x00" * 6}}, "6 bytes"),
    ],
)
def test_stored_bytes_that_make_no_identity_are_refused(
    kps_identity: Identity, change: dict[str, object], problem: str
) -> None:
    stored = to_stored(kps_identity)
    with pytest.raises(SavedFaceCorrupt, match=problem) as refused:
        from_stored(dataclasses.replace(stored, **change))
    assert refused.value.code == "saved_face_corrupt" and refused.value.permanent
