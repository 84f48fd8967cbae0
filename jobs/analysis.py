"""Face analysis, the engine part of an analysis job: the faces of a photo in reading order, a numbered
preview, and for each face what saving it needs, embedded by every model this worker has.

A photo's faces are the largest ``limit`` (``LargestFaces``, SWAPBOT_MAX_FACES): an analysis is free, and
each face it keeps costs an embedding, a stored chip and a picker button. The worker's every detection
goes through the same limit, so the swap a picker's number asks for numbers the faces as the preview did.

An engine without 68 landmarks (onnx) is joined by the bundle's classic landmarker: its faces are
matched to the main engine's by box overlap, and a matched face is stored with the classic chip and
its 68 landmarks (the classic swap needs them) and both embeddings. A face the classic detector misses
keeps the main engine's chip, key points and embedding only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from db.analyses import Detection, FoundFace
from engine.base import FaceEngine
from engine.errors import NoFaceFound
from engine.face import Face, Identity, largest, match_by_box, preview
from engine.stored import to_stored


@dataclass(frozen=True, slots=True)
class Analysis:
    faces: tuple[FoundFace, ...]  # reading order: face n is faces[n - 1]
    preview: np.ndarray  # the photo with each face boxed and numbered
    left_out: int = 0  # smaller faces found beyond the limit: not numbered, embedded or stored


@dataclass(frozen=True, slots=True)
class Found:
    faces: list[Face]  # the faces kept, in reading order
    left_out: int  # how many more were found


class LargestFaces:
    """A ``FaceEngine`` whose ``detect`` keeps the ``limit`` largest faces (None: all), renumbered in
    reading order (engine.face.largest); ``found`` also says how many it left out."""

    def __init__(self, inner: FaceEngine, limit: int | None) -> None:
        self.inner = inner
        self.limit = limit
        self.name = inner.name
        self.embedding_model = inner.embedding_model
        self.gives_landmarks = inner.gives_landmarks

    def found(self, image: np.ndarray, *, embed: bool = True) -> Found:
        faces = self.inner.detect(image, embed=embed)
        kept = largest(faces, self.limit)
        return Found(kept, len(faces) - len(kept))

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        return self.found(image, embed=embed).faces

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        return self.inner.identity(image, face)

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        return self.inner.swap(image, targets, source)


def find(engine: FaceEngine, image: np.ndarray) -> Found:
    """The photo's faces, unembedded (``identity`` embeds the ones that are kept): ``NoFaceFound`` when
    it has none."""
    found = (
        engine.found(image, embed=False)
        if isinstance(engine, LargestFaces)
        else Found(engine.detect(image, embed=False), 0)
    )
    if not found.faces:
        raise NoFaceFound("no face found in the photo to analyse")
    return found


def analyse(
    engine: FaceEngine, landmarker: Callable[[], FaceEngine], image: np.ndarray, found: Found | None = None
) -> Analysis:
    """``NoFaceFound`` when the photo has no face. ``landmarker`` (an ``EngineBundle``'s, say) is asked
    only when ``engine`` gives no 68 landmarks. Only the faces kept are embedded (``identity``), not
    every face detected. ``found``: the photo's faces when the caller detected them already."""
    found = found if found is not None else find(engine, image)
    faces = found.faces
    identities = [engine.identity(image, face) for face in faces]
    if not engine.gives_landmarks:
        classic = landmarker()
        others = classic.detect(image, embed=False)
        for mine, theirs in match_by_box(faces, others):
            identities[mine] = with_landmarks(identities[mine], classic.identity(image, others[theirs]))
    stored_faces = []
    for face, identity in zip(faces, identities, strict=True):
        stored = to_stored(identity)
        stored_faces.append(
            FoundFace(
                box=[float(v) for v in face.box],
                score=float(face.score),
                chip=stored.chip,
                landmarks=stored.landmarks,
                embeddings=stored.embeddings,
                kps=face.kps.tolist(),
                points=face.landmarks.tolist() if face.landmarks is not None else None,
            )
        )
    return Analysis(tuple(stored_faces), preview(image, faces), found.left_out)


def stored_faces(detections: Sequence[Detection]) -> list[Face]:
    """The faces a job stored, as the engine found them (photo pixels), in their numbers' order."""
    return [
        Face(
            box=np.asarray(d.box, np.float32),
            score=d.score,
            kps=np.asarray(d.kps, np.float32),
            landmarks=np.asarray(d.points, np.float32) if d.points is not None else None,
        )
        for d in detections
    ]


def with_landmarks(main: Identity, classic: Identity) -> Identity:
    """The classic identity's chip and 68 landmarks (they belong together), with every embedding."""
    return Identity(
        chip=classic.chip,
        kps=classic.kps,
        landmarks=classic.landmarks,
        embeddings={**classic.embeddings, **main.embeddings},
    )
