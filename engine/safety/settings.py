"""The guard's settings, importable without loading numpy, OpenCV or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass

from engine.choices import check_choice

NSFW_POLICIES = ("block", "off")
CHANNEL_RULES = ("allow", "block")  # what an NSFW-marked Discord channel gets
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class GuardSpec:
    """``policy``: block (refuse explicit exposure at or above ``threshold``) or off.
    ``nsfw_channels``: allow lets jobs from NSFW-marked Discord channels through unchecked."""

    policy: str = "block"
    threshold: float = DEFAULT_THRESHOLD
    nsfw_channels: str = "block"

    def __post_init__(self) -> None:
        check_choice("the NSFW policy", self.policy, NSFW_POLICIES)
        check_choice("the NSFW channel rule", self.nsfw_channels, CHANNEL_RULES)
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"the NSFW threshold must be in (0, 1], not {self.threshold}")
