"""Face restoration with GFPGAN 1.4 and CodeFormer ONNX exports on onnxruntime.

Each face is aligned to the FFHQ 512 template from its five key points (what both networks were
trained on), restored, and pasted back through the inverse warp with a feathered mask, only inside
the face's region of interest: pixels elsewhere are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engine.align import ffhq_matrix
from engine.base import check_bgr
from engine.choices import RESTORER_MODELS
from engine.face import Face
from engine.models.registry import require
from engine.onnx.runtime import get_session

DEFAULT_SIZE = 512
# The feathered band of the paste-back mask, as a fraction of the crop side: wide enough to hide the
# seam, narrow enough that the whole inner face gets the full restoration.
_FEATHER = 0.1
# onnxruntime type strings -> numpy dtypes for the scalar inputs (CodeFormer's weight is a double in
# FaceFusion's export, a float in some others).
_NUMPY_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32, "tensor(float16)": np.float16}


def to_tensor(crop: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop as the 1x3xHxW RGB float32 tensor in [-1, 1] the networks expect."""
    rgb = crop[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


def from_tensor(tensor: np.ndarray) -> np.ndarray:
    """A 3xHxW RGB output in [-1, 1] back to an HxWx3 BGR float32 image in [0, 255] (not yet rounded)."""
    rgb = (np.clip(tensor, -1.0, 1.0) + 1.0) * 127.5
    return np.ascontiguousarray(rgb.transpose(1, 2, 0)[:, :, ::-1])


@lru_cache(maxsize=4)
def square_feather(size: int) -> np.ndarray:
    """A size x size float32 mask: 1 inside, falling smoothly (smoothstep) to 0 at the crop's edges."""
    band = max(1.0, _FEATHER * size)
    ramp = np.arange(size, dtype=np.float32)
    edge = np.minimum(ramp, size - 1 - ramp)  # distance to the nearest edge along one axis
    t = np.clip(edge / band, 0.0, 1.0)
    line = t * t * (3.0 - 2.0 * t)
    mask = np.minimum(line[:, None], line[None, :])
    mask.setflags(write=False)
    return mask


def paste_restored(
    image: np.ndarray, restored: np.ndarray, matrix: np.ndarray, alpha: float
) -> tuple[int, int, int, int] | None:
    """Blend ``restored`` (crop space, float BGR) into ``image`` in place through the inverse of ``matrix``.

    Only the bounding box of the crop's footprint is warped and written, so the cost depends on the
    face's size, not the picture's. Returns that box (x0, y0, x1, y1), or None when it is off-image.
    """
    size = restored.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    footprint = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = image.shape[:2]
    x0, y0 = np.floor(footprint.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(footprint.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x0 >= x1 or y0 >= y1:
        return None
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    face = cv2.warpAffine(restored, local, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(
        square_feather(size), local, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    weight = (mask * np.float32(alpha))[:, :, None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    blended = region + (face - region) * weight  # weight 0 leaves the float pixel exactly as it was
    image[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return x0, y0, x1, y1


class _OnnxRestorer:
    """Align, run, paste back: what GFPGAN and CodeFormer share. Subclasses add extra inputs."""

    name = ""

    def __init__(self, models_dir: Path, providers: Sequence[str]) -> None:
        self.session = get_session(require(models_dir, self.name), providers)
        inputs = self.session.get_inputs()
        images = [i for i in inputs if len(i.shape) == 4]
        if len(images) != 1:
            raise ValueError(f"model '{self.name}' should have one 4-d image input, has {len(images)}")
        self.image_input = images[0]
        self.extra_inputs = [i for i in inputs if i is not self.image_input]
        side = self.image_input.shape[2]
        self.size = side if isinstance(side, int) and side > 0 else DEFAULT_SIZE

    def _feeds(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        return {self.image_input.name: tensor}

    def restore_crop(self, crop: np.ndarray) -> np.ndarray:
        """Restore one aligned size x size BGR uint8 crop; returns BGR float32 in [0, 255]."""
        output = self.session.run(None, self._feeds(to_tensor(crop)))[0]
        return from_tensor(output[0])

    def restore(self, image: np.ndarray, faces: Sequence[Face], blend: float = 0.8) -> np.ndarray:
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend must be between 0 and 1, not {blend}")
        check_bgr(image)
        out = image.copy()
        if blend == 0.0:
            return out
        for face in faces:
            matrix = ffhq_matrix(face.kps, self.size)
            # Faces are restored one after another from the current result, so overlapping faces
            # each see their neighbour already restored rather than two pastes fighting.
            crop = cv2.warpAffine(
                out, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            paste_restored(out, self.restore_crop(crop), matrix, blend)
        return out


class GfpganRestorer(_OnnxRestorer):
    """GFPGAN v1.4: one 1x3x512x512 input in [-1, 1], one output of the same shape."""

    name = RESTORER_MODELS["gfpgan"]


class CodeFormerRestorer(_OnnxRestorer):
    """CodeFormer: the image plus a fidelity ``weight`` (0 = strongest restoration, 1 = closest to input)."""

    name = RESTORER_MODELS["codeformer"]

    def __init__(self, models_dir: Path, providers: Sequence[str], fidelity: float = 0.7) -> None:
        if not 0.0 <= fidelity <= 1.0:
            raise ValueError(f"fidelity must be between 0 and 1, not {fidelity}")
        super().__init__(models_dir, providers)
        if len(self.extra_inputs) != 1:
            names = [self.image_input.name, *(i.name for i in self.extra_inputs)]
            raise ValueError(f"CodeFormer should take an image and a weight, its inputs are {names}")
        self.weight_input = self.extra_inputs[0]
        self.fidelity = fidelity
        self._weight = _scalar_feed(self.weight_input, fidelity)

    def _feeds(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        return {self.image_input.name: tensor, self.weight_input.name: self._weight}


def _scalar_feed(node: ort.NodeArg, value: float) -> np.ndarray:
    """``value`` shaped and typed as the model declares the input: a scalar or a 1-element tensor."""
    dtype = _NUMPY_DTYPES.get(node.type)
    if dtype is None:
        raise ValueError(f"unsupported type {node.type} for input '{node.name}'")
    shape = [1 if not isinstance(d, int) or d <= 0 else d for d in node.shape]
    if int(np.prod(shape)) != 1:
        raise ValueError(f"input '{node.name}' should hold one number, its shape is {node.shape}")
    return np.full(shape, value, dtype=dtype)
