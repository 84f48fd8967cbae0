"""The ``onnx`` swap backend: SCRFD detection, ArcFace identities, inswapper_128 and ROI paste-back.

Each model is loaded on first use (a worker that only saves faces never loads the swapper) through
``engine.models.require`` (a missing file raises ``ModelMissing`` naming it) and the shared
session cache of ``engine.onnx.runtime``, so every engine on one models folder shares one session per file.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.errors import NoFaceFound
from engine.face import Face, Identity, identity_from, reading_order
from engine.models.registry import require
from engine.onnx.arcface import ArcFaceEmbedder
from engine.onnx.inswapper import InSwapper, read_emap, source_latent
from engine.onnx.pasteback import paste_back_into
from engine.onnx.runtime import get_session, resolve_providers
from engine.onnx.scrfd import ScrfdDetector

EMBEDDING_MODEL = "arcface_w600k_r50"
# The swapper's emap per model file, read once per process however many engines are built.
_emaps: dict[str, np.ndarray] = {}
_emap_lock = threading.Lock()


def _emap(path: Path) -> np.ndarray:
    key = str(path.resolve())
    with _emap_lock:
        if key not in _emaps:
            _emaps[key] = read_emap(path)
        return _emaps[key]


class OnnxEngine:
    name = "onnx"
    embedding_model = EMBEDDING_MODEL
    gives_landmarks = False  # SCRFD gives 5 key points

    def __init__(self, models_dir: Path, providers: Sequence[str] = ("cuda", "cpu")) -> None:
        self.models_dir = Path(models_dir)
        self.providers = tuple(providers)
        resolve_providers(self.providers)  # unknown provider names fail here, not at the first photo
        self._detector: ScrfdDetector | None = None
        self._embedder: ArcFaceEmbedder | None = None
        self._swapper: InSwapper | None = None

    def _session(self, model: str) -> ort.InferenceSession:
        return get_session(require(self.models_dir, model), self.providers)

    @property
    def detector(self) -> ScrfdDetector:
        if self._detector is None:
            self._detector = ScrfdDetector(self._session("det_10g"))
        return self._detector

    @property
    def embedder(self) -> ArcFaceEmbedder:
        if self._embedder is None:
            self._embedder = ArcFaceEmbedder(self._session("w600k_r50"))
        return self._embedder

    @property
    def swapper(self) -> InSwapper:
        if self._swapper is None:
            path = require(self.models_dir, "inswapper_128")
            self._swapper = InSwapper(get_session(path, self.providers), _emap(path))
        return self._swapper

    def detect(self, image: np.ndarray, *, embed: bool = True) -> list[Face]:
        found = self.detector.detect(image)
        embedder = self.embedder if embed else None
        faces = [
            Face(
                box=box,
                score=float(score),
                kps=kps,
                embedding=embedder.embed(image, kps) if embedder is not None else None,
                embedding_model=EMBEDDING_MODEL if embedder is not None else None,
            )
            for box, score, kps in zip(found.boxes, found.scores, found.kps, strict=True)
        ]
        return reading_order(faces)

    def identity(self, image: np.ndarray, face: Face) -> Identity:
        identity = identity_from(image, face)
        if face.embedding is None or face.embedding_model != EMBEDDING_MODEL:
            identity.embeddings[EMBEDDING_MODEL] = self.embedder.embed(image, face.kps)
        return identity

    def source_embedding(self, source: Identity) -> np.ndarray:
        """This engine's embedding of ``source``: the stored one, else computed from its chip."""
        stored = source.embeddings.get(EMBEDDING_MODEL)
        if stored is not None:
            return stored
        return self.embedder.embed(source.chip, source.kps)

    def swap(self, image: np.ndarray, targets: Sequence[Face], source: Identity) -> np.ndarray:
        if not targets:
            raise NoFaceFound("no target face to swap into", role="target")
        swapper = self.swapper
        latent = source_latent(self.source_embedding(source), swapper.emap)
        result = image.copy()
        for face in targets:  # one after another: a later face sees the earlier swaps, as insightface's
            crop, matrix = swapper.swap_crop(result, face.kps, latent)
            paste_back_into(result, crop, matrix)
        return result
