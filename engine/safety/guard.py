"""The content guard: NudeNet's scores against a policy, on every input photo and every result.

``block`` (the default) refuses an image when any explicit exposure class scores at or above the
threshold; ``off`` checks nothing. Discord channels marked NSFW may be let through (``allow``). A
worker without the model file runs with the guard off, and ``Guard.state`` says so for its start-up
log line and ``swapbot doctor``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import EngineError, ModelMissing
from engine.models.registry import require
from engine.safety.nudenet import CLASSES, NudeNet
from engine.safety.settings import GuardSpec

GUARD_MODEL = "nudenet"
# Exposed sexual body parts. Covered parts, faces, feet, bellies, armpits and a male chest are not
# refused: swimwear and holiday photos are what a face-swap bot is mostly sent.
EXPLICIT = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
    "BUTTOCKS_EXPOSED",
)
_EXPLICIT_ROWS = np.array([4 + CLASSES.index(label) for label in EXPLICIT])


class ContentBlocked(EngineError):
    """The guard refused an image. ``params``: ``stage`` ("input" or "result"). The detail (for the
    log and the job row) names the class and score, never anything of the image itself."""

    code = "content_blocked"
    permanent = True

    def __init__(self, stage: str, label: str, score: float) -> None:
        super().__init__(f"content guard refused the {stage}: {label} scored {score:.2f}", stage=stage)


class Guard:
    """``detector`` None: the guard is off, for the reason in ``state``."""

    def __init__(self, spec: GuardSpec, detector: NudeNet | None, state: str) -> None:
        self.spec = spec
        self.detector = detector
        self.state = state

    @property
    def active(self) -> bool:
        return self.detector is not None

    def scores(self, image: np.ndarray) -> dict[str, float]:
        """The highest score any candidate box gives each explicit class (0 when the guard is off).

        Raw scores, not the package's thresholded, suppressed boxes, so any threshold in (0, 1] means
        what it says."""
        if self.detector is None:
            return dict.fromkeys(EXPLICIT, 0.0)
        rows = self.detector.rows(image)[_EXPLICIT_ROWS]
        return {label: float(row.max(initial=0.0)) for label, row in zip(EXPLICIT, rows, strict=True)}

    def check(self, image: np.ndarray, stage: str, *, nsfw_channel: bool = False) -> None:
        """Raise ``ContentBlocked`` when ``image`` (BGR uint8) breaks the policy."""
        if self.detector is None or (nsfw_channel and self.spec.nsfw_channels == "allow"):
            return
        label, score = max(self.scores(image).items(), key=lambda item: item[1])
        if score >= self.spec.threshold:
            raise ContentBlocked(stage, label, score)


def load_guard(spec: GuardSpec, models_dir: Path, providers: tuple[str, ...]) -> Guard:
    """The guard of ``spec``: off by policy, off for want of the model file, or on (model loaded)."""
    if spec.policy == "off":
        return Guard(spec, None, "off (SWAPBOT_NSFW_POLICY=off)")
    try:
        path = require(models_dir, GUARD_MODEL)
    except ModelMissing as exc:
        return Guard(spec, None, f"off: model file missing ({exc.path}); run `swapbot models fetch nudenet`")
    return Guard(spec, NudeNet(path, providers), f"on (block at {spec.threshold:g}, {path.name})")
