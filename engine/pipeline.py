"""Whole operations on decoded images, shared by the command line and the queue's task functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.base import FaceEngine, FaceRestorer
from engine.choices import LOCAL_STYLES
from engine.errors import NoFaceFound
from engine.face import Face, Identity, select_faces
from engine.stylize.base import CARICATURE_PROMPT, Stylizer

Stage = Callable[[str], None]


def _no_stage(_: str) -> None:
    return None


def source_identity(
    engine: FaceEngine, image: np.ndarray, face_number: int = 1, stage: Stage = _no_stage
) -> Identity:
    """The identity of face ``face_number`` (1-based, reading order) of a source photo."""
    stage("detecting the source face")
    faces = engine.detect(image, embed=False)  # identity() embeds the one face chosen
    if not faces:
        raise NoFaceFound("no face found in the source photo", role="source")
    (face,) = select_faces(faces, [face_number])
    return engine.identity(image, face)


def swap(
    engine: FaceEngine,
    source: Identity,
    target: np.ndarray,
    face_numbers: Sequence[int] | None = None,
    restorer: FaceRestorer | None = None,
    blend: float = 0.8,
    stage: Stage = _no_stage,
    *,
    faces: Sequence[Face] | None = None,
) -> tuple[np.ndarray, list[Face]]:
    """Put ``source`` into the chosen faces of ``target`` (all when ``face_numbers`` is None).
    ``faces``: the target's faces in reading order when the caller has them already (detected once for
    several uses, or stored with an earlier job): no second detection.

    Returns the new image and the target faces that were swapped.
    """
    if faces is None:
        stage("detecting target faces")
        faces = engine.detect(target, embed=False)
    if not faces:
        raise NoFaceFound("no face found in the target photo", role="target")
    chosen = select_faces(faces, face_numbers)
    stage(f"swapping {len(chosen)} face(s)")
    result = engine.swap(target, chosen, source)
    if restorer is not None:
        stage(f"restoring faces with {restorer.name}")
        result = restorer.restore(result, chosen, blend)
    return result, chosen


def caricature(
    landmarker: FaceEngine,
    image: np.ndarray,
    style: str = "both",
    strength: float = 1.0,
    stylizer: Stylizer | None = None,
    prompt: str | None = None,
    face_numbers: Sequence[int] | None = None,
    stage: Stage = _no_stage,
) -> np.ndarray:
    """A caricature of the chosen faces (all when ``face_numbers`` is None): local styles (warp,
    cartoon, both) or a remote stylizer, which draws the whole picture.

    ``landmarker`` must give 68 landmarks (the classic engine). Faces are looked for first in every
    style, so a photo without a face is refused before a paid remote service is called.
    """
    from engine.caricature import caricature as local_caricature

    stage("detecting faces")
    faces = landmarker.detect(image, embed=False)
    if not faces:
        raise NoFaceFound("no face found to draw a caricature of", role="caricature")
    faces = select_faces(faces, face_numbers)
    if style in LOCAL_STYLES:
        stage(f"drawing the caricature ({style})")
        return local_caricature(image, faces, style, strength)
    if stylizer is None or stylizer.name != style:
        raise ValueError(f"caricature style {style!r} needs its stylizer configured (see README)")
    stage(f"asking {stylizer.name} for the caricature")
    return stylizer.stylize(image, prompt or CARICATURE_PROMPT)
