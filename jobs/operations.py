"""What each kind of job does with the engine: the CPU/GPU part of a job, run in the engine's threads.

Decoding the inputs and encoding the result happen here too, so the event loop only ever moves bytes.
The content guard (``engine.safety``) looks at every decoded input before the engine does, and at every
made picture before it is encoded for delivery; a refusal is ``ContentBlocked`` (permanent, refunded)
and nothing of the picture outlives this call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from db.analyses import FoundFace
from db.models import JobKind
from engine import pipeline
from engine.base import FaceEngine
from engine.choices import DEFAULT_RESTORER
from engine.errors import NoFaceFound
from engine.face import Face, select_faces
from engine.factory import EngineBundle
from engine.imageio import decode_image
from engine.mix import mix_identities
from engine.safety.guard import ContentBlocked
from engine.stored import StoredIdentity, from_stored
from jobs.analysis import Found, LargestFaces, analyse, find
from jobs.errors import JobFailure
from jobs.metrics import CONTENT_BLOCKED, stage
from jobs.results import Result, encode_result
from jobs.timed import TimedRestorer, timed


@dataclass(frozen=True, slots=True)
class Output:
    """What a job made. ``result``: the picture to deliver (the made one, or a numbered preview), None
    when there is nothing to send (a face saved by the worker). ``faces``: the photo's faces, kept with
    the job. ``needs_choice``: the photo has several faces and none was chosen; the preview asks which."""

    result: Result | None
    faces: tuple[FoundFace, ...] | None = None
    needs_choice: bool = False


@dataclass(frozen=True, slots=True)
class Work:
    kind: JobKind
    params: Mapping[str, Any]
    target: bytes
    source: bytes | None = None
    saved: StoredIdentity | None = None
    mixed: tuple[StoredIdentity, ...] = ()  # more saved faces averaged with ``saved``
    # The target's faces as an earlier job of the same photo stored them (a picker's choice): the swap
    # uses them instead of detecting again.
    detected: tuple[Face, ...] | None = None


class Operations:
    """Runs a job's engine work with the bundle's engine, restorers, landmarker and stylizers; each
    stage's time goes to the metrics (jobs.metrics), the engine wrapped so that engine/ stays pure."""

    def __init__(self, engines: EngineBundle, *, max_faces: int | None = None) -> None:
        self.engines = engines  # one bundle: its guard is the one the worker loaded and logged
        # Every detection of a job's photo keeps the same largest faces (jobs.analysis): the preview's
        # numbers are the swap's.
        self.engine = LargestFaces(timed(engines.engine), max_faces)

    def run(self, work: Work) -> Output:
        with stage("decode"):
            target = decode_image(work.target)  # the photo lives in memory only, for this call
        self._guard(work, target, "input")
        if work.kind == JobKind.ANALYZE:
            return self._analyse(work, target)
        if work.kind == JobKind.SWAP:
            found = self._target_faces(work, target)
            if work.params.get("choose") and len(found.faces) > 1:
                return self._preview(target, found, needs_choice=True)
            image = self._swap(work, target, found.faces)
        elif work.kind == JobKind.CARICATURE:
            image = self._caricature(work, target)
        elif work.kind == JobKind.ENHANCE:
            image = self._enhance(work, target)
        else:
            raise JobFailure(
                "unsupported_kind",
                f"{work.kind.value} jobs are not run here",
                transient=False,
                params={"kind": work.kind.value},
            )
        self._guard(work, image, "result")
        with stage("encode"):
            return Output(encode_result(image))

    def _analyse(self, work: Work, target: np.ndarray) -> Output:
        """Every face of the photo, stored. A face to save ("save", one face): nothing to show, the
        worker saves it; several: the preview asks which. No purpose: the preview, for its own sake."""
        found = find(self.engine, target)
        saving = work.params.get("purpose") == "save"
        if saving and len(found.faces) == 1:
            analysis = analyse(self.engine, self._landmarker, target, found)
            return Output(None, analysis.faces)
        return self._preview(target, found, needs_choice=saving)

    def _preview(self, target: np.ndarray, found: Found, *, needs_choice: bool) -> Output:
        """The photo's faces, embedded and stored, and the numbered preview (the checked input with
        numbers drawn on it: nothing new for the guard to look at)."""
        analysis = analyse(self.engine, self._landmarker, target, found)
        with stage("encode"):
            result = encode_result(
                analysis.preview, face_count=len(analysis.faces), faces_left_out=analysis.left_out
            )
        return Output(result, analysis.faces, needs_choice=needs_choice)

    def _target_faces(self, work: Work, target: np.ndarray) -> Found:
        """The swap's target faces: stored ones (a picker's choice), else one detection, used both to
        decide whether a choice is needed and to swap."""
        if work.detected is not None:
            return Found(list(work.detected), 0)
        found = self.engine.found(target, embed=False)
        if not found.faces:
            raise NoFaceFound("no face found in the target photo", role="target")
        return found

    def _guard(self, work: Work, image: np.ndarray, stage_name: str) -> None:
        # channel_nsfw: set by the Discord bot for a channel marked NSFW (the guard's rule decides)
        with stage("guard"):
            nsfw_channel = bool(work.params.get("channel_nsfw"))
            try:
                self.engines.guard().check(image, stage_name, nsfw_channel=nsfw_channel)
            except ContentBlocked:
                CONTENT_BLOCKED.labels(stage=stage_name).inc()
                raise

    def _landmarker(self) -> FaceEngine:
        """The bundle's landmarker (the swap engine itself when it gives 68 landmarks), timed."""
        return timed(self.engines.landmarker())

    def _swap(self, work: Work, target: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        params = work.params
        engine = self.engine
        if work.saved is not None:
            stored = (work.saved, *work.mixed)
            source = mix_identities([from_stored(face, engine.embedding_model) for face in stored])
        elif work.source is not None:
            with stage("decode"):
                photo = decode_image(work.source)
            self._guard(work, photo, "input")
            source = pipeline.source_identity(engine, photo, params.get("source_face", 1))
        else:
            raise JobFailure("bad_request", "a swap without a source", transient=False)
        restorer = None
        if params.get("restorer"):
            restorer = TimedRestorer(self.engines.restorer(params["restorer"]))
        image, _ = pipeline.swap(engine, source, target, params.get("faces"), restorer, faces=faces)
        return image

    def _caricature(self, work: Work, target: np.ndarray) -> np.ndarray:
        params = work.params
        style = params.get("style", "both")
        return pipeline.caricature(
            self._landmarker(),
            target,
            style,
            params.get("strength", 1.0),
            self.engines.stylizer(style),
            face_numbers=params.get("faces"),
        )

    def _enhance(self, work: Work, target: np.ndarray) -> np.ndarray:
        faces = select_faces(self.engine.detect(target, embed=False), None)
        restorer = TimedRestorer(self.engines.restorer(work.params.get("restorer", DEFAULT_RESTORER)))
        return restorer.restore(target, faces, work.params.get("blend", 0.8))
