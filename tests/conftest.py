"""Shared fixtures: real photos from installed packages (never committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def _insightface_image(name: str) -> np.ndarray:
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"missing test photo {path}"
    return image


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's astronaut (Eileen Collins, public domain): one face, 512x512, BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def group_photo() -> np.ndarray:
    """insightface's t1.jpg: six faces."""
    return _insightface_image("t1.jpg")


@pytest.fixture(scope="session")
def hanks() -> np.ndarray:
    """insightface's Tom_Hanks_54745.png: one face."""
    return _insightface_image("Tom_Hanks_54745.png")


def encode(image: np.ndarray, ext: str = ".png", **params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, [p for kv in params.items() for p in kv])
    assert ok
    return buf.tobytes()
