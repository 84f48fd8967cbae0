"""A saved face as bytes, both ways: the engine's ``Identity`` <-> ``StoredIdentity``, the form the
database keeps (db/faces takes and gives exactly these fields).

- ``chip``: the aligned chip as JPEG (never the photo the face came from);
- ``landmarks``: the 68 landmarks in chip pixels when the engine has them, else the 5 key points (the
  key points of a 68-point face are derived from its landmarks, as the classic engine does);
- ``embeddings``: model name -> float32 little-endian bytes, one per model that embedded the face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.align import kps_from_landmarks
from engine.errors import EmbeddingMissing, ImageRejected, SavedFaceCorrupt
from engine.face import Identity
from engine.imageio import decode_image

CHIP_JPEG_QUALITY = 92
_FLOAT32_LE = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    chip: bytes
    landmarks: Sequence[Sequence[float]]
    embeddings: Mapping[str, bytes]


def to_stored(identity: Identity) -> StoredIdentity:
    """What saving ``identity`` keeps: every embedding it has, its landmarks (or key points), its chip."""
    ok, jpeg = cv2.imencode(".jpg", identity.chip, [cv2.IMWRITE_JPEG_QUALITY, CHIP_JPEG_QUALITY])
    if not ok:
        raise ValueError(f"the chip ({identity.chip.dtype} {identity.chip.shape}) does not encode as JPEG")
    points = identity.landmarks if identity.landmarks is not None else identity.kps
    return StoredIdentity(
        chip=jpeg.tobytes(),
        landmarks=[[float(x), float(y)] for x, y in np.asarray(points, dtype=np.float32).reshape(-1, 2)],
        embeddings={
            model: np.asarray(vector, dtype=_FLOAT32_LE).ravel().tobytes()
            for model, vector in identity.embeddings.items()
        },
    )


def from_stored(stored: StoredIdentity, model: str | None = None) -> Identity:
    """The ``Identity`` of a saved face. With ``model`` (the engine about to use it), only that model's
    embedding comes along, and ``EmbeddingMissing`` says the face was saved with another engine."""
    if model is not None and model not in stored.embeddings:
        raise EmbeddingMissing(model)
    chosen = stored.embeddings if model is None else {model: stored.embeddings[model]}
    embeddings = {}
    for name, vector in chosen.items():
        if not vector or len(vector) % _FLOAT32_LE.itemsize:
            raise SavedFaceCorrupt(f"the {name} embedding has {len(vector)} bytes")
        embeddings[name] = np.frombuffer(vector, dtype=_FLOAT32_LE).astype(np.float32)
    try:
        points = np.asarray(stored.landmarks, dtype=np.float32).reshape(-1, 2)
    except (TypeError, ValueError):  # ragged rows, an odd count, or not numbers
        raise SavedFaceCorrupt("the landmarks are not pairs of numbers") from None
    if len(points) == 68:
        kps, landmarks = kps_from_landmarks(points), points
    elif len(points) == 5:
        kps, landmarks = points, None
    else:
        raise SavedFaceCorrupt(f"{len(points)} landmarks, not 68 or 5")
    try:
        chip = decode_image(stored.chip)
    except ImageRejected as exc:
        raise SavedFaceCorrupt(f"the chip is not an image we read ({exc.code})") from None
    return Identity(chip=chip, kps=kps, landmarks=landmarks, embeddings=embeddings)
