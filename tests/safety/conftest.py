"""The real NudeNet model, found inside the installed ``nudenet`` package (the dev extra installs it;
nothing is downloaded), put in a models folder under the name ``swapbot models fetch`` gives it; the
real photos of the engine tests; and the jobs tests' databases and fake Telegram."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from engine.models.registry import package_dir, spec
from tests.jobs.conftest import pg, sqlite, telegram  # noqa: F401  (fixtures)


def nudenet_file() -> Path:
    root = package_dir("nudenet")
    assert root is not None, "the dev extra installs nudenet: its wheel carries the guard's model"
    return root / "320n.onnx"


@pytest.fixture(scope="session")
def guard_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding only the guard's model (a link to the package's file)."""
    folder = tmp_path_factory.mktemp("guard_models")
    (folder / spec("nudenet").filename).symlink_to(nudenet_file())
    return folder


def _insightface_image(name: str) -> np.ndarray:
    root = package_dir("insightface")
    assert root is not None
    image = cv2.imread(str(root / "data" / "images" / name))
    assert image is not None, name
    return image


@pytest.fixture(scope="session")
def real_photos() -> dict[str, np.ndarray]:
    """BGR: the astronaut (one face), t1.jpg (six faces), Tom Hanks (one face)."""
    return {
        "astronaut": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
        "t1": _insightface_image("t1.jpg"),
        "hanks": _insightface_image("Tom_Hanks_54745.png"),
    }
