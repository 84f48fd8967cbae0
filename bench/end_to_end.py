"""A whole swap on the onnx stand-ins, ours against insightface's: decode both JPEGs, detect the faces
of both photos, embed the source face, swap every target face with paste-back.

Ours is ``engine.pipeline`` on ``OnnxEngine`` (``decode_image``, ``source_identity``, ``swap``);
insightface's is ``cv2.imdecode``, ``FaceAnalysis.get`` (detection and recognition for the source,
detection only for the target, as ours skips target embeddings) and ``INSwapper.get(...,
paste_back=True)`` face after face. Both load the same model files: ours from one folder, insightface's
detector and embedder from links to them laid out as ``FaceAnalysis`` expects
(``<root>/models/<name>/``), where its router finds the detector and the
embedder by their inputs and outputs (the swapper stays out of it: with ``allowed_modules`` set,
``FaceAnalysis`` fails on it, as ``INSwapper`` has no task name).

The stand-in detector (tests/fakemodels) scores a face wherever the letterboxed input is saturated in
one channel, so on a raw photo it finds hundreds. The photos are therefore dimmed below its threshold
and each face is marked by one saturated blue cell of its stride-32 grid: both pipelines then find
exactly those faces. The six target cells are far enough apart that no two paste-back regions overlap,
so the order of the swaps (insightface's by score, ours in reading order) does not change the output.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.timing import median_ms
from engine import pipeline
from engine.imageio import decode_image
from engine.models.registry import spec
from engine.onnx.backend import OnnxEngine
from engine.onnx.scrfd import letterbox
from tests.fakemodels.swap_models import write_swap_models

MODELS_NAME = "stand-ins"
SOURCE_SIZE = (1280, 1280)
SOURCE_CELL = (8, 4)  # (column, row) on the astronaut's face
TARGET_CELLS = [(2, 3), (8, 3), (14, 3), (2, 9), (8, 9), (14, 9)]  # six cells apart: paste-backs apart
DIM = 0.7  # brightest pixel 178: the stand-in scores 0.5 where a channel averages 192
CELL_STRIDE = 32
MARK = (255, 0, 0)  # saturated blue: the stand-in's stride-32 channel


@dataclass(frozen=True)
class EndToEnd:
    faces: int
    ours_ms: float
    theirs_ms: float
    max_diff: int
    mean_diff: float


def write_models(root: Path) -> None:
    """The stand-ins in ``root/engine`` for ours, linked where ``FaceAnalysis(MODELS_NAME, root=root)``
    looks for the detector and the embedder."""
    engine_dir = write_swap_models(root / "engine")
    analysis_dir = root / "models" / MODELS_NAME
    analysis_dir.mkdir(parents=True)
    for model in ("det_10g", "w600k_r50"):
        (analysis_dir / spec(model).filename).hardlink_to(engine_dir / spec(model).filename)


def marked_photo(photo: np.ndarray, size: tuple[int, int], cells: list[tuple[int, int]]) -> bytes:
    """``photo`` at ``size`` (width, height), dimmed, one face cell per entry of ``cells``, as a JPEG."""
    image = photo if photo.shape[1::-1] == size else cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    image = (image * DIM).astype(np.uint8)
    side = CELL_STRIDE / letterbox(image)[1]  # one cell of the detector input, in image pixels
    for col, row in cells:
        image[round(row * side) : round((row + 1) * side), round(col * side) : round((col + 1) * side)] = MARK
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1])


def source_jpeg(astronaut: np.ndarray) -> bytes:
    return marked_photo(astronaut, SOURCE_SIZE, [SOURCE_CELL])


def target_jpeg(group: np.ndarray, size: tuple[int, int]) -> bytes:
    return marked_photo(group, size, TARGET_CELLS)


def _insightface(root: Path) -> tuple[Any, Any, Any]:
    from insightface.app import FaceAnalysis
    from insightface.model_zoo import model_zoo

    cpu = ["CPUExecutionProvider"]
    with contextlib.redirect_stdout(io.StringIO()):  # its model loading prints shapes
        analyse = FaceAnalysis(
            MODELS_NAME, root=str(root), allowed_modules=["detection", "recognition"], providers=cpu
        )
        detect = FaceAnalysis(MODELS_NAME, root=str(root), allowed_modules=["detection"], providers=cpu)
        swapper = model_zoo.get_model(str(root / "engine" / spec("inswapper_128").filename), providers=cpu)
    for app in (analyse, detect):
        app.prepare(ctx_id=-1, det_size=(640, 640))  # ours letterboxes to 640 only
    return analyse, detect, swapper


class Pipelines:
    """Both pipelines on the models under ``root`` (see ``write_models``)."""

    def __init__(self, root: Path) -> None:
        self.engine = OnnxEngine(root / "engine", ["cpu"])
        self.analyse, self.detect, self.swapper = _insightface(root)

    def ours(self, source_jpeg: bytes, target_jpeg: bytes) -> tuple[np.ndarray, int]:
        identity = pipeline.source_identity(self.engine, decode_image(source_jpeg))
        result, faces = pipeline.swap(self.engine, identity, decode_image(target_jpeg))
        return result, len(faces)

    def theirs(self, source_jpeg: bytes, target_jpeg: bytes) -> tuple[np.ndarray, int]:
        source = cv2.imdecode(np.frombuffer(source_jpeg, np.uint8), cv2.IMREAD_COLOR)
        result = cv2.imdecode(np.frombuffer(target_jpeg, np.uint8), cv2.IMREAD_COLOR)
        (source_face,) = self.analyse.get(source)
        faces = self.detect.get(result)
        for face in faces:
            result = self.swapper.get(result, face, source_face, paste_back=True)
        return result, len(faces)

    def compare(self, source_jpeg: bytes, target_jpeg: bytes, repeat: int) -> EndToEnd:
        ours, count = self.ours(source_jpeg, target_jpeg)
        theirs, their_count = self.theirs(source_jpeg, target_jpeg)
        if count != their_count or count != len(TARGET_CELLS):
            raise RuntimeError(
                f"faces found: ours {count}, insightface {their_count}, marked {len(TARGET_CELLS)}"
            )
        diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        return EndToEnd(
            faces=count,
            ours_ms=median_ms(lambda: self.ours(source_jpeg, target_jpeg), repeat),
            theirs_ms=median_ms(lambda: self.theirs(source_jpeg, target_jpeg), repeat),
            max_diff=int(diff.max()),
            mean_diff=float(diff.mean()),
        )
