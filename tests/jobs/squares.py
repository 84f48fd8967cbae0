"""An instant ``FaceEngine`` for queue tests and the benchmark: a "face" is a saturated coloured square
on a grey picture, its identity is its colour, and a swap paints the target squares in the source's
colour. Deterministic and microseconds fast, so tests see the queue, not the engine.

Knobs for the tests: ``delay_s`` (a slow engine), ``gate`` (block until the test opens it; ``entered``
is set when a call is waiting there), ``failures`` (exceptions raised by the next swaps, in order);
``swaps`` and ``detections`` count the calls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

from engine.face import Face, Identity, reading_order

GREY = (128, 128, 128)
MIN_FACE = 8


def picture(*squares: tuple[tuple[int, int, int], int, int], size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A grey BGR picture with ``(colour, x, y)`` squares of 24 pixels."""
    image = np.full((*size, 3), GREY, np.uint8)
    for colour, x, y in squares:
        image[y : y + 24, x : x + 24] = colour
    return image


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


class SquareEngine:
    name = "squares"
    embedding_model = "squares-colour"
    gives_landmarks = False

    def __init__(self, *, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay_s = delay_s
        self.gate = gate
        self.entered = threading.Event()
        self.failures: deque[BaseException] = deque()
        self.swaps = 0
        self.detections = 0  # detect calls: a photo's faces are found once per job, or reused
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        with self._lock:
            self.detections += 1
        spread = image.max(axis=2).astype(np.int16) - image.min(axis=2).astype(np.int16)
        mask = (spread > 100).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        faces = []
        for x, y, w, h, _area in stats[1:count]:
            if min(w, h) < MIN_FACE:
                continue
            box = np.array([x, y, x + w, y + h], np.float32)
            kps = np.array(
                [[x + w * 0.3, y + h * 0.35], [x + w * 0.7, y + h * 0.35], [x + w * 0.5, y + h * 0.55],
                 [x + w * 0.35, y + h * 0.75], [x + w * 0.65, y + h * 0.75]],
                np.float32,
            )  # fmt: skip
            colour = image[y + h // 2, x + w // 2].astype(np.float32)
            faces.append(Face(box, 1.0, kps, None, colour / 255.0, self.embedding_model))
        return reading_order(faces)

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        x1, y1, x2, y2 = (int(v) for v in face.box)
        chip = cv2.resize(image[y1:y2, x1:x2], (32, 32), interpolation=cv2.INTER_NEAREST)
        assert face.embedding is not None
        return Identity(chip=chip, kps=face.kps, embeddings={self.embedding_model: face.embedding})

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        with self._lock:
            self.swaps += 1
            failure = self.failures.popleft() if self.failures else None
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure is not None:
            raise failure
        colour = np.clip(source.embeddings[self.embedding_model] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out = image.copy()
        for face in targets:
            x1, y1, x2, y2 = (int(v) for v in face.box)
            out[y1:y2, x1:x2] = colour
        return out


def colour_at(image: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    b, g, r = (int(v) for v in image[y, x])
    return b, g, r
