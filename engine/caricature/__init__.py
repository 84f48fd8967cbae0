"""Caricatures drawn on this machine: landmark exaggeration (``warp``), a cartoon look (``cartoon``),
or both in that order. The remote styles (OpenAI, Replicate) live in ``engine.stylize``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from engine.face import Face

Style = Literal["warp", "cartoon", "both"]
LOCAL_STYLES: tuple[Style, ...] = ("warp", "cartoon", "both")


def caricature(
    image: np.ndarray, faces: Sequence[Face], style: Style = "both", strength: float = 1.0
) -> np.ndarray:
    """The local caricature: ``warp`` (exaggerate), ``cartoon`` (cartoonize) or ``both`` in that order."""
    from engine.caricature.cartoon import cartoonize
    from engine.caricature.warp import exaggerate

    if style not in LOCAL_STYLES:
        raise ValueError(f"unknown caricature style {style!r}; choose from {', '.join(LOCAL_STYLES)}")
    out = exaggerate(image, faces, strength) if style in ("warp", "both") else image
    return cartoonize(out) if style in ("cartoon", "both") else out.copy()
