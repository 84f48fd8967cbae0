"""The inswapper_128 face swapper: aligned 128x128 target crop + source identity -> swapped crop.

The model does not take the ArcFace embedding directly: it takes a "latent", the unit embedding
multiplied by ``emap`` (a 512x512 matrix stored as the graph's last initializer, unused by the graph
itself) and normalised again. The emap is read once at load by walking the protobuf wire format, so
only that one tensor is parsed, never the half-gigabyte graph.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from engine.align import arcface_matrix

CROP_SIZE = 128
_MODEL_GRAPH = 7  # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, payload start, payload end) of the length-delimited fields in buf[start:end]."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield field, pos, pos + length
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def read_emap(path: Path) -> np.ndarray:
    """The last initializer of the ONNX graph in ``path``: inswapper's source-embedding map."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        buf = memoryview(mapped)
        try:
            last: tuple[int, int] | None = None
            for field, start, end in _fields(buf, 0, len(buf)):
                if field != _MODEL_GRAPH:
                    continue
                for inner, i_start, i_end in _fields(buf, start, end):
                    if inner == _GRAPH_INITIALIZER:
                        last = (i_start, i_end)
            if last is None:
                raise ValueError(f"{path} has no graph initializers: not an inswapper model")
            tensor = onnx.TensorProto.FromString(bytes(buf[last[0] : last[1]]))
        finally:
            buf.release()
    return numpy_helper.to_array(tensor, base_dir=str(Path(path).parent))


def source_latent(embedding: np.ndarray, emap: np.ndarray) -> np.ndarray:
    """The (1, 512) float32 model input for an identity embedding (normalised first, as insightface)."""
    unit = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
    latent: np.ndarray = np.dot(unit / np.linalg.norm(unit), emap)
    unit_latent: np.ndarray = latent / np.linalg.norm(latent)
    return unit_latent.astype(np.float32)


class InSwapper:
    def __init__(self, session: ort.InferenceSession, emap: np.ndarray) -> None:
        self.session = session
        self.emap = emap
        names = [i.name for i in session.get_inputs()]
        self._target_name, self._source_name = names[0], names[1]
        self._output_name = session.get_outputs()[0].name

    def swap_crop(
        self, image: np.ndarray, kps: np.ndarray, latent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The swapped 128x128 BGR face for the face at ``kps`` and the 2x3 image->crop matrix."""
        matrix = arcface_matrix(kps, CROP_SIZE)
        crop = cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), borderValue=0.0)
        blob = cv2.dnn.blobFromImage(crop, 1.0 / 255.0, (CROP_SIZE, CROP_SIZE), (0.0, 0.0, 0.0), swapRB=True)
        pred = self.session.run([self._output_name], {self._target_name: blob, self._source_name: latent})[0]
        rgb = pred.transpose(0, 2, 3, 1)[0]
        bgr = np.ascontiguousarray(np.clip(255 * rgb, 0, 255).astype(np.uint8)[:, :, ::-1])
        return bgr, matrix
