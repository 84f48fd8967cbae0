"""Engine stage timings without engine/ knowing about metrics: the engine and restorers a job uses are
wrapped here, and each call is observed as its stage (detect, embed, swap, restore)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.base import FaceEngine, FaceRestorer
from engine.face import Face, Identity
from jobs.metrics import stage


class TimedEngine:
    """A ``FaceEngine`` that times ``detect`` (detect), ``identity`` (embed) and ``swap`` (swap)."""

    def __init__(self, inner: FaceEngine) -> None:
        self.inner = inner
        self.name = inner.name
        self.embedding_model = inner.embedding_model
        self.gives_landmarks = inner.gives_landmarks

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        with stage("detect"):
            return self.inner.detect(image, embed=embed)

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        with stage("embed"):
            return self.inner.identity(image, face)

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        with stage("swap"):
            return self.inner.swap(image, targets, source)


class TimedRestorer:
    def __init__(self, inner: FaceRestorer) -> None:
        self.inner = inner
        self.name = inner.name

    def restore(self, image: np.ndarray, faces: Sequence[Face], blend: float = 0.8) -> np.ndarray:
        with stage("restore"):
            return self.inner.restore(image, faces, blend)


def timed(engine: FaceEngine) -> FaceEngine:
    """``engine`` timed, once: an engine already timed is returned as it is."""
    return engine if isinstance(engine, TimedEngine) else TimedEngine(engine)
