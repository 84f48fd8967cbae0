"""Engine fixtures shared by the test modules: one classic engine and each photo detected once."""

from __future__ import annotations

import numpy as np
import pytest

from engine.classic.backend import ClassicEngine
from engine.face import Face


@pytest.fixture(scope="session")
def engine() -> ClassicEngine:
    return ClassicEngine()


@pytest.fixture(scope="session")
def astronaut_faces(engine: ClassicEngine, astronaut: np.ndarray) -> list[Face]:
    faces = engine.detect(astronaut)
    assert len(faces) == 1
    return faces


@pytest.fixture(scope="session")
def group_faces(engine: ClassicEngine, group_photo: np.ndarray) -> list[Face]:
    faces = engine.detect(group_photo)
    assert len(faces) == 6
    return faces


@pytest.fixture(scope="session")
def hanks_faces(engine: ClassicEngine, hanks: np.ndarray) -> list[Face]:
    faces = engine.detect(hanks)
    assert len(faces) == 1
    return faces
