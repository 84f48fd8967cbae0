"""ArcFace identity embeddings (insightface's w600k_r50): 112x112 aligned face in, 512-d unit vector out."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from engine.align import arcface_matrix

INPUT_SIZE = 112
INPUT_MEAN = 127.5
INPUT_STD = 127.5


def align_arcface(image: np.ndarray, kps: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The ``size`` square crop with the five key points on the ArcFace template (black outside)."""
    return cv2.warpAffine(image, arcface_matrix(kps, size), (size, size), borderValue=0.0)


class ArcFaceEmbedder:
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        inp = session.get_inputs()[0]
        self._input_name = inp.name
        self._output_name = session.get_outputs()[0].name
        side = inp.shape[2]
        self.input_size = side if isinstance(side, int) else INPUT_SIZE

    def embed_aligned(self, crop: np.ndarray) -> np.ndarray:
        """The L2-normalised float32 embedding of an already aligned BGR crop."""
        blob = cv2.dnn.blobFromImage(
            crop, 1.0 / INPUT_STD, (self.input_size, self.input_size), (INPUT_MEAN,) * 3, swapRB=True
        )
        vector: np.ndarray = self.session.run([self._output_name], {self._input_name: blob})[0].reshape(-1)
        unit: np.ndarray = vector / np.linalg.norm(vector)
        return unit.astype(np.float32)

    def embed(self, image: np.ndarray, kps: np.ndarray) -> np.ndarray:
        """The embedding of the face whose five key points in ``image`` are ``kps``."""
        return self.embed_aligned(align_arcface(image, kps, self.input_size))
