"""What each kind of job does with the engine: the CPU/GPU part of a job, run in the engine's threads.

Decoding the inputs and encoding the result happen here too, so the event loop only ever moves bytes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from db.models import JobKind
from engine import pipeline
from engine.base import FaceEngine, FaceRestorer
from engine.face import Identity, select_faces
from engine.imageio import decode_image
from engine.stylize.base import Stylizer
from jobs.config import StylizerConfig
from jobs.errors import JobFailure
from jobs.results import Result, encode_result

RestorerFactory = Callable[[str], FaceRestorer]
StylizerFactory = Callable[[str], Stylizer | None]
REMOTE_STYLES = ("openai", "replicate")


@dataclass(frozen=True, slots=True)
class SavedIdentity:
    """A saved face as the database keeps it: JPEG chip, landmarks in chip pixels, float32 embeddings."""

    chip_jpeg: bytes
    landmarks: Sequence[Sequence[float]]
    embeddings: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class Work:
    kind: JobKind
    params: Mapping[str, Any]
    target: bytes
    source: bytes | None = None
    saved: SavedIdentity | None = None


class Restorers:
    """Restorers built on first use and kept: a missing model fails only the jobs that ask for it."""

    def __init__(self, factory: RestorerFactory) -> None:
        self._factory = factory
        self._built: dict[str, FaceRestorer] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> FaceRestorer:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._factory(name)
            return self._built[name]


class Operations:
    def __init__(
        self, engine: FaceEngine, restorers: Restorers, stylizers: StylizerFactory | None = None
    ) -> None:
        self.engine = engine
        self.restorers = restorers
        self._stylizer_factory = stylizers
        self._stylizers: dict[str, Stylizer] = {}
        self._landmarker: FaceEngine | None = engine if _has_landmarks(engine) else None
        self._lock = threading.Lock()

    def landmarker(self) -> FaceEngine:
        """The engine that gives 68 landmarks for caricatures: this one if it can, else a classic one."""
        with self._lock:
            if self._landmarker is None:
                from engine.factory import build_engine

                self._landmarker = build_engine("classic")
            return self._landmarker

    def stylizer(self, style: str) -> Stylizer:
        with self._lock:
            if style not in self._stylizers:
                try:
                    built = self._stylizer_factory(style) if self._stylizer_factory is not None else None
                except ValueError as exc:
                    raise JobFailure("stylizer_unavailable", str(exc), transient=False) from None
                if built is None:
                    raise JobFailure(
                        "stylizer_unavailable", f"the {style} style is not set up here", transient=False
                    )
                self._stylizers[style] = built
            return self._stylizers[style]

    def run(self, work: Work) -> Result:
        target = decode_image(work.target)
        if work.kind == JobKind.SWAP:
            image = self._swap(work, target)
        elif work.kind == JobKind.CARICATURE:
            image = self._caricature(work, target)
        elif work.kind == JobKind.ENHANCE:
            image = self._enhance(work, target)
        else:
            raise JobFailure("unsupported_kind", f"{work.kind.value} jobs are not run here", transient=False)
        return encode_result(image)

    def _swap(self, work: Work, target: np.ndarray) -> np.ndarray:
        params = work.params
        if work.saved is not None:
            source = saved_identity(work.saved, self.engine.embedding_model)
        elif work.source is not None:
            source = pipeline.source_identity(
                self.engine, decode_image(work.source), params.get("source_face", 1)
            )
        else:
            raise JobFailure("bad_request", "a swap without a source", transient=False)
        restorer = self.restorers.get(params["restorer"]) if params.get("restorer") else None
        image, _ = pipeline.swap(self.engine, source, target, params.get("faces"), restorer)
        return image

    def _caricature(self, work: Work, target: np.ndarray) -> np.ndarray:
        params = work.params
        style = params.get("style", "both")
        stylizer = self.stylizer(style) if style in REMOTE_STYLES else None
        return pipeline.caricature(
            self.landmarker(),
            target,
            style,
            params.get("strength", 1.0),
            stylizer,
            face_numbers=params.get("faces"),
        )

    def _enhance(self, work: Work, target: np.ndarray) -> np.ndarray:
        faces = select_faces(self.engine.detect(target, embed=False), None)
        restorer = self.restorers.get(work.params.get("restorer", "gfpgan"))
        return restorer.restore(target, faces, work.params.get("blend", 0.8))


def stylizer_for(remote: StylizerConfig, style: str) -> Stylizer | None:
    """The remote stylizer of a caricature ``style`` (None for local styles); ValueError when unset."""
    from engine.factory import build_stylizer

    return build_stylizer(style, **dataclasses.asdict(remote))


def _has_landmarks(engine: FaceEngine) -> bool:
    return engine.name == "classic"


def saved_identity(saved: SavedIdentity, model: str) -> Identity:
    """The engine's ``Identity`` of a saved face; only this engine's own embedding is usable."""
    if model not in saved.embeddings:
        raise JobFailure(
            "embedding_missing", f"the saved face has no {model} embedding; save it again", transient=False
        )
    chip = decode_image(saved.chip_jpeg)
    points = np.asarray(saved.landmarks, dtype=np.float32).reshape(-1, 2)
    if len(points) == 68:
        from engine.align import kps_from_landmarks

        kps, landmarks = kps_from_landmarks(points), points
    elif len(points) == 5:
        kps, landmarks = points, None
    else:
        raise JobFailure("bad_saved_face", f"a saved face with {len(points)} landmarks", transient=False)
    embedding = np.frombuffer(saved.embeddings[model], dtype="<f4").astype(np.float32)
    return Identity(chip=chip, kps=kps, landmarks=landmarks, embeddings={model: embedding})
