"""Mixing saved faces (engine.mix) on real faces with the classic engine: the mix of a face with itself
is that face, two faces give a chip and landmarks between theirs and embeddings averaged at their
length."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.classic.backend import ClassicEngine
from engine.face import Identity
from engine.mix import mix_identities


@pytest.fixture(scope="module")
def two(astronaut: np.ndarray, group_photo: np.ndarray) -> tuple[Identity, Identity]:
    engine = ClassicEngine()
    (eileen,) = engine.detect(astronaut)
    other = engine.detect(group_photo)[0]
    return engine.identity(astronaut, eileen), engine.identity(group_photo, other)


def test_a_face_mixed_with_itself_is_that_face(two: tuple[Identity, Identity]) -> None:
    a, _ = two
    same = mix_identities([a, a])
    assert np.abs(same.chip.astype(int) - a.chip.astype(int)).mean() < 1.0
    assert same.landmarks is not None and a.landmarks is not None
    assert np.allclose(same.landmarks, a.landmarks)
    for model, vector in a.embeddings.items():
        assert np.allclose(same.embeddings[model], vector, atol=1e-5)
    assert mix_identities([a]) is a


def test_two_faces_mix_between_them(two: tuple[Identity, Identity]) -> None:
    a, b = two
    mixed = mix_identities([a, b])
    assert mixed.chip.shape == a.chip.shape
    assert a.landmarks is not None and b.landmarks is not None and mixed.landmarks is not None
    assert np.allclose(mixed.landmarks, (a.landmarks + b.landmarks) / 2, atol=1e-3)
    (model,) = a.embeddings
    va, vb, vm = a.embeddings[model], b.embeddings[model], mixed.embeddings[model]
    assert np.isclose(np.linalg.norm(vm), (np.linalg.norm(va) + np.linalg.norm(vb)) / 2, rtol=1e-4)
    assert np.linalg.norm(vm - va) < np.linalg.norm(vb - va) and np.linalg.norm(vm - vb) < np.linalg.norm(
        vb - va
    )
    with pytest.raises(ValueError):
        mix_identities([a, b, a, b])


def test_a_face_saved_with_a_smaller_chip_mixes_at_the_larger_size(two: tuple[Identity, Identity]) -> None:
    a, b = two
    half = a.chip.shape[0] // 2  # faces saved before the chip grew to 512 px
    old_b = Identity(
        chip=cv2.resize(b.chip, (half, half), interpolation=cv2.INTER_AREA),
        kps=b.kps / 2,
        landmarks=None if b.landmarks is None else b.landmarks / 2,
        embeddings=b.embeddings,
    )
    mixed = mix_identities([a, old_b])
    assert mixed.chip.shape == a.chip.shape
    assert a.landmarks is not None and b.landmarks is not None and mixed.landmarks is not None
    assert np.allclose(mixed.landmarks, (a.landmarks + b.landmarks) / 2, atol=1e-2)
