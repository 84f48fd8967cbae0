"""SCRFD face detection (insightface's det_10g): letterbox, anchor decoding, NMS.

The network predicts, for every anchor of the 8/16/32-stride feature maps, a score, distances from
the anchor centre to the box sides and offsets of five key points, all in units of the stride.
Decoding and suppression follow insightface's ``SCRFD.detect`` step for step (stable score order,
the "+1" box areas of its NMS), so both give the same faces for the same model and photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

INPUT_SIZE = 640
INPUT_MEAN = 127.5
INPUT_STD = 128.0

# Output count -> (strides, whether key points are present); the anchor count per location is read
# from the output shapes.
_LAYOUTS = {
    6: ((8, 16, 32), False),
    9: ((8, 16, 32), True),
    10: ((8, 16, 32, 64, 128), False),
    15: ((8, 16, 32, 64, 128), True),
}


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, strongest first: boxes (n, 4) x1 y1 x2 y2, scores (n,), kps (n, 5, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    kps: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def letterbox(image: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """Resize ``image`` to fit a ``size`` square, keeping its aspect, padded right and bottom with black.

    Returns the square and the scale from image to square coordinates.
    """
    height, width = image.shape[:2]
    if height / width > 1.0:
        new_h, new_w = size, int(size / (height / width))
    else:
        new_w, new_h = size, int(size * (height / width))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return canvas, new_h / height


def anchor_centres(height: int, width: int, stride: int, anchors: int) -> np.ndarray:
    """(height * width * anchors, 2) x, y centres in input pixels, row by row, anchors innermost."""
    rows, cols = np.mgrid[:height, :width]
    centres = np.stack([cols, rows], axis=-1).astype(np.float32)
    centres = (centres * stride).reshape(-1, 2)
    return np.repeat(centres, anchors, axis=0) if anchors > 1 else centres


def decode(
    outputs: list[np.ndarray], input_hw: tuple[int, int], threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and key points (input coordinates) of all anchors scoring at least ``threshold``.

    Candidates are ordered by score, highest first; ties keep the stride-then-anchor order.
    """
    strides, has_kps = _LAYOUTS[len(outputs)]
    if not has_kps:
        raise ValueError("this SCRFD model has no key-point outputs; the swap needs five key points")
    count = len(strides)
    outputs = [o[0] if o.ndim == 3 else o for o in outputs]  # batched exports carry a leading 1
    boxes, scores, kps = [], [], []
    for i, stride in enumerate(strides):
        rows, cols = input_hw[0] // stride, input_hw[1] // stride
        score = outputs[i].reshape(-1)
        centres = anchor_centres(rows, cols, stride, len(score) // (rows * cols))
        keep = np.where(score >= threshold)[0]
        dist = outputs[count + i][keep] * stride
        c = centres[keep]
        boxes.append(
            np.stack(
                [c[:, 0] - dist[:, 0], c[:, 1] - dist[:, 1], c[:, 0] + dist[:, 2], c[:, 1] + dist[:, 3]],
                axis=-1,
            )
        )
        offsets = (outputs[2 * count + i][keep] * stride).reshape(-1, 5, 2)
        kps.append(c[:, None, :] + offsets)
        scores.append(score[keep])
    all_scores = np.concatenate(scores).astype(np.float32)
    order = np.argsort(-all_scores, kind="stable")
    return (
        np.concatenate(boxes).astype(np.float32)[order],
        all_scores[order],
        np.concatenate(kps).astype(np.float32)[order],
    )


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices of boxes kept by greedy non-maximum suppression (IoU above ``threshold`` is dropped)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= threshold]
    return keep


class ScrfdDetector:
    """Runs an SCRFD session on one image at a time."""

    def __init__(
        self,
        session: ort.InferenceSession,
        input_size: int = INPUT_SIZE,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
    ) -> None:
        self.session = session
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._input_name = session.get_inputs()[0].name
        self._output_names = [o.name for o in session.get_outputs()]
        if len(self._output_names) not in _LAYOUTS:
            raise ValueError(f"not an SCRFD model: {len(self._output_names)} outputs")

    def detect(self, image: np.ndarray) -> Detections:
        square, scale = letterbox(image, self.input_size)
        blob = cv2.dnn.blobFromImage(
            square, 1.0 / INPUT_STD, (self.input_size, self.input_size), (INPUT_MEAN,) * 3, swapRB=True
        )
        outputs = self.session.run(self._output_names, {self._input_name: blob})
        boxes, scores, kps = decode(outputs, blob.shape[2:4], self.score_threshold)
        boxes, kps = boxes / scale, kps / scale
        keep = nms(boxes, scores, self.nms_threshold)
        return Detections(boxes=boxes[keep], scores=scores[keep], kps=kps[keep])
