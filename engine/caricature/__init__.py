"""Caricatures drawn on this machine: landmark exaggeration (``warp``), a cartoon look (``cartoon``),
or both in that order. The remote styles (OpenAI, Replicate) live in ``engine.stylize``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.choices import LOCAL_STYLES, LocalStyle, check_choice
from engine.face import Face


def caricature(
    image: np.ndarray, faces: Sequence[Face], style: LocalStyle = "both", strength: float = 1.0
) -> np.ndarray:
    """The local caricature: ``warp`` (exaggerate), ``cartoon`` (cartoonize) or ``both`` in that order."""
    from engine.caricature.cartoon import cartoonize
    from engine.caricature.warp import exaggerate

    check_choice("a local caricature style", style, LOCAL_STYLES)
    out = exaggerate(image, faces, strength) if style in ("warp", "both") else image
    return cartoonize(out) if style in ("cartoon", "both") else out.copy()
