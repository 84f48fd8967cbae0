"""What every swap backend offers, so the CLI and the workers never care which one runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from engine.face import Face, Identity


def check_bgr(image: np.ndarray) -> np.ndarray:
    """The one input check of the engine: a BGR uint8 HxWx3 array, or ValueError saying what came."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected a BGR uint8 HxWx3 image, got {got}")
    return image


@runtime_checkable
class FaceEngine(Protocol):
    name: str  # one of engine.choices.ENGINES (tests inject engines of their own)
    embedding_model: str  # name stored next to embeddings this engine makes
    # Whether every face ``detect`` finds has its 68 landmarks: caricatures need them, and an engine
    # without them (onnx: 5 key points) leaves caricatures to a classic landmarker.
    gives_landmarks: bool

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        """All faces in reading order, with key points, landmarks when known, and embeddings.

        ``embed=False`` lets the engine skip the embeddings: targets of a swap need none, and
        skipping them saves most of the classic engine's detection time."""
        ...

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        """The reusable identity of one detected face (what a saved face keeps)."""
        ...

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        """A new image with ``source`` put into each of ``targets``; pixels elsewhere unchanged."""
        ...


@runtime_checkable
class FaceRestorer(Protocol):
    name: str

    def restore(self, image: np.ndarray, faces: Sequence[Face], blend: float = 0.8) -> np.ndarray:
        """A new image with each face restored and blended back by ``blend`` (0 = none, 1 = full)."""
        ...
