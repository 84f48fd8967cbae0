"""Piecewise-affine warps over a Delaunay triangulation, shared by the classic swap and caricature.

The warp is built as dense inverse maps (for every output pixel, where to sample the input), so it
runs as one ``cv2.remap`` and only over the region of interest that the caller asks for.
"""

from __future__ import annotations

import cv2
import numpy as np

_ROWS_PER_CHUNK = 512  # bounds the memory of the per-pixel coefficient gathers on large images


def delaunay(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Triangles (n x 3 indices into ``points``) of the Delaunay triangulation of ``points``.

    Points outside the ``width`` x ``height`` rectangle are clamped into it for the subdivision
    only; indices always refer to the original points.
    """
    pts = np.asarray(points, dtype=np.float32)
    clamped = np.stack([np.clip(pts[:, 0], 0, width - 1), np.clip(pts[:, 1], 0, height - 1)], axis=1)
    subdiv = cv2.Subdiv2D((0, 0, int(width), int(height)))
    index_of: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(clamped):
        key = (round(float(x), 3), round(float(y), 3))
        if key in index_of:
            continue  # duplicates would only make degenerate triangles
        index_of[key] = i
        subdiv.insert((float(x), float(y)))
    triangles = []
    for t in subdiv.getTriangleList():
        corners = [(round(float(t[k]), 3), round(float(t[k + 1]), 3)) for k in (0, 2, 4)]
        if all(c in index_of for c in corners):
            triangles.append([index_of[c] for c in corners])
    return np.asarray(triangles, dtype=np.int32).reshape(-1, 3)


def piecewise_affine_maps(
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    roi: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse maps for the output region ``roi`` = (x0, y0, x1, y1), exclusive ends.

    Returns (map_x, map_y, inside): float32 sample coordinates in the source for every ROI pixel,
    and a bool mask of pixels covered by some destination triangle (uncovered pixels map to -1).
    """
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    src = np.asarray(src_points, dtype=np.float32)
    dst = np.asarray(dst_points, dtype=np.float32) - np.array([x0, y0], dtype=np.float32)
    label = np.full((h, w), -1, dtype=np.int32)
    coeffs = np.zeros((len(triangles), 6), dtype=np.float64)
    for k, tri in enumerate(triangles):
        d, s = dst[tri], src[tri]
        area = (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[2, 0] - d[0, 0]) * (d[1, 1] - d[0, 1])
        if abs(area) < 1e-6:
            continue
        # Inverse affine: ROI pixel coordinates (offset back to full coordinates) -> source.
        coeffs[k] = cv2.getAffineTransform(d + np.array([x0, y0], np.float32), s).ravel()
        cv2.fillConvexPoly(label, np.round(d * 16).astype(np.int32), int(k), cv2.LINE_8, shift=4)
    map_x = np.full((h, w), -1.0, dtype=np.float32)
    map_y = np.full((h, w), -1.0, dtype=np.float32)
    xs = np.arange(x0, x1, dtype=np.float64)
    for r0 in range(0, h, _ROWS_PER_CHUNK):
        r1 = min(h, r0 + _ROWS_PER_CHUNK)
        lab = label[r0:r1]
        inside = lab >= 0
        c = coeffs[np.where(inside, lab, 0)]
        ys = np.arange(y0 + r0, y0 + r1, dtype=np.float64)[:, None]
        mx = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
        my = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
        map_x[r0:r1] = np.where(inside, mx, -1.0)
        map_y[r0:r1] = np.where(inside, my, -1.0)
    return map_x, map_y, label >= 0


def warp_piecewise_affine(
    image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    roi: tuple[int, int, int, int],
    border_mode: int = cv2.BORDER_REFLECT101,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` so that ``src_points`` land on ``dst_points``; returns (roi pixels, covered mask)."""
    map_x, map_y, inside = piecewise_affine_maps(src_points, dst_points, triangles, roi)
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=border_mode)
    return out, inside
