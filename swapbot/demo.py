"""The demo's photos (``swapbot run`` without a token), from installed packages, never committed:
scikit-image's astronaut (one face) and insightface's group photo t1.jpg (six faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def astronaut() -> np.ndarray:
    """The source face, BGR."""
    import cv2

    try:
        from skimage import data
    except ImportError as exc:
        raise ValueError(f"the demo photos come from scikit-image and insightface: {exc}") from None
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def group_photo() -> Path:
    """Where insightface keeps t1.jpg, the target of the demo swap."""
    try:
        import insightface
    except ImportError as exc:
        raise ValueError(f"the demo photos come from scikit-image and insightface: {exc}") from None
    return Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
