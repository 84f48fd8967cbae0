"""Test images for the guard, built at test time (nothing explicit is committed).

``body_drawing`` is a crude cartoon of a bare chest: blurred flat ellipses and dots in skin tones. The
real NudeNet model scores it about 0.84 for FEMALE_BREAST_EXPOSED; the real photos score under 0.02
for every explicit class. Without the dots it scores under 0.3: the model reacts to the drawing, not
to skin colour alone.
"""

from __future__ import annotations

import cv2
import numpy as np

SKIN = (140, 170, 225)  # BGR
SHADE = (122, 152, 212)


def body_drawing(*, nipples: bool = True, size: int = 640) -> np.ndarray:
    image = np.full((size, size, 3), 60, np.uint8)
    s = size / 640
    cv2.ellipse(image, (int(320 * s), int(420 * s)), (int(230 * s), int(330 * s)), 0, 0, 360, SKIN, -1)
    for x in (215, 425):
        cv2.circle(image, (int(x * s), int(340 * s)), int(85 * s), SHADE, -1)
        if nipples:
            cv2.circle(image, (int(x * s), int(360 * s)), int(16 * s), (90, 100, 170), -1)
            cv2.circle(image, (int(x * s), int(360 * s)), int(7 * s), (70, 80, 150), -1)
    return cv2.GaussianBlur(image, (0, 0), 6 * s)
