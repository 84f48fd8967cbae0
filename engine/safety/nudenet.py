"""NudeNet's ``320n.onnx`` on our onnxruntime session cache: its pre-processing and output decoding.

Both follow the ``nudenet`` 3.4.2 package's own ``nudenet.py`` (which the runtime does not import: it
depends on CPU onnxruntime and would replace onnxruntime-gpu). Pre-processing: pad the image at the
bottom and right to a square with black, resize to 320x320 (bilinear), scale to [0, 1], NCHW. The
package converts with ``COLOR_RGBA2BGR`` (on a 3-channel image: a B/R swap) and then ``swapRB=True``,
so the network sees the image in BGR order; we feed it the same. Output: YOLOv8, ``[1, 4 + 18, N]``,
rows of centre x, centre y, width, height in 320-pixel units and one score per class; no objectness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.onnx.runtime import get_session

INPUT_SIZE = 320
# The package's ``__labels``, in the model's output order.
CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
MIN_SCORE = 0.2  # the package keeps no candidate below this
NMS_SCORE, NMS_IOU = 0.25, 0.45  # the package's cv2.dnn.NMSBoxes arguments


@dataclass(frozen=True, slots=True)
class Detection:
    """One body part: ``box`` is x, y, width, height in the original image's pixels."""

    label: str
    score: float
    box: tuple[int, int, int, int]


def preprocess(image: np.ndarray) -> tuple[np.ndarray, int]:
    """BGR uint8 image -> the 1x3x320x320 float32 input, and the padded square's side."""
    height, width = image.shape[:2]
    side = max(height, width)
    square = cv2.copyMakeBorder(image, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=0)
    # INTER_AREA would be the better filter for a 12 MP photo, but the network was used (and is
    # matched here) with the bilinear resize of cv2.dnn.blobFromImage.
    small = cv2.resize(square, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    blob = small.astype(np.float32).transpose(2, 0, 1)[np.newaxis] * np.float32(1 / 255.0)
    return np.ascontiguousarray(blob), side


def decode(output: np.ndarray, side: int, width: int, height: int) -> list[Detection]:
    """The package's post-processing: best class per row over ``MIN_SCORE``, boxes to image pixels
    (clipped), then non-maximum suppression across classes."""
    rows = np.asarray(output, dtype=np.float32).reshape(4 + len(CLASSES), -1).T
    scores = rows[:, 4:]
    best = scores.argmax(axis=1)
    best_score = scores[np.arange(len(rows)), best]
    keep = np.flatnonzero(best_score >= MIN_SCORE)
    scale = side / INPUT_SIZE
    boxes: list[list[float]] = []
    for i in keep:
        cx, cy, w, h = (float(v) * scale for v in rows[i, :4])
        x = max(0.0, min(cx - w / 2, float(width)))
        y = max(0.0, min(cy - h / 2, float(height)))
        boxes.append([x, y, min(w, width - x), min(h, height - y)])
    if not boxes:
        return []
    chosen = cv2.dnn.NMSBoxes(boxes, [float(best_score[i]) for i in keep], NMS_SCORE, NMS_IOU)
    return [
        Detection(
            CLASSES[int(best[keep[j]])],
            float(best_score[keep[j]]),
            (int(boxes[j][0]), int(boxes[j][1]), int(boxes[j][2]), int(boxes[j][3])),
        )
        for j in np.asarray(chosen, dtype=np.int64).reshape(-1)
    ]


class NudeNet:
    """The detector; one onnxruntime session per file and providers, shared through the cache."""

    def __init__(self, path: Path, providers: tuple[str, ...]) -> None:
        self.session: Any = get_session(path, providers)
        self.input_name: str = self.session.get_inputs()[0].name

    def rows(self, image: np.ndarray) -> np.ndarray:
        """The network's raw answer for a BGR uint8 image: ``4 + len(CLASSES)`` rows (box, then one
        score per class), one column per candidate box."""
        blob, _ = preprocess(image)
        (output,) = self.session.run(None, {self.input_name: blob})[:1]
        return np.asarray(output, dtype=np.float32).reshape(4 + len(CLASSES), -1)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Body parts found in a BGR uint8 image (grey or BGRA are converted first)."""
        image = _bgr(image)
        height, width = image.shape[:2]
        return decode(self.rows(image), max(height, width), width, height)


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
