"""Similarity alignment of faces to canonical templates (ArcFace 112/128, FFHQ 512)."""

from __future__ import annotations

import numpy as np

# Five-point template of ArcFace/insightface at 112x112 (eyes, nose, mouth corners).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

# The same five points for the FFHQ 512x512 alignment that GFPGAN and CodeFormer were trained on.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19366],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping src to dst.

    Umeyama (1991), the estimator insightface uses through scikit-image; returns a 2x3 matrix.
    The arithmetic keeps the inputs' precision (float32 key points stay float32 until the SVD), as
    scikit-image does, so our alignment is bit-identical to insightface's reference.
    """
    src = np.asarray(src)
    dst = np.asarray(dst)
    if not np.issubdtype(src.dtype, np.floating):
        src = src.astype(np.float64)
    if not np.issubdtype(dst.dtype, np.floating):
        dst = dst.astype(np.float64)
    n, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    d = np.ones(dim, dtype=np.float64)
    if np.linalg.det(cov) < 0:
        d[dim - 1] = -1
    u, s, vt = np.linalg.svd(cov)
    rank = int(np.count_nonzero(s > s.max() * max(cov.shape) * np.finfo(float).eps))
    t = np.eye(dim + 1)
    if rank == 0:
        return np.full((2, 3), np.nan)
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            t[:dim, :dim] = u @ vt
        else:
            s_ = d[dim - 1]
            d[dim - 1] = -1
            t[:dim, :dim] = u @ np.diag(d) @ vt
            d[dim - 1] = s_
    else:
        t[:dim, :dim] = u @ np.diag(d) @ vt
    scale = 1.0 / src_c.var(axis=0).sum() * (s @ d)
    t[:dim, dim] = dst_mean - scale * (t[:dim, :dim] @ src_mean.T)
    t[:dim, :dim] *= scale
    return t[:2, :]


def arcface_matrix(kps: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 matrix that aligns five key points to the ArcFace template at ``size`` (112k or 128k)."""
    if size % 112 == 0:
        ratio, shift_x = size / 112.0, 0.0
    elif size % 128 == 0:
        ratio = size / 128.0
        shift_x = 8.0 * ratio
    else:
        raise ValueError(f"ArcFace alignment needs a size divisible by 112 or 128, not {size}")
    dst = ARCFACE_TEMPLATE * ratio
    dst[:, 0] += shift_x
    return umeyama_similarity(kps, dst)


def ffhq_matrix(kps: np.ndarray, size: int = 512) -> np.ndarray:
    """The 2x3 matrix that aligns five key points to the FFHQ template scaled to ``size``."""
    return umeyama_similarity(kps, FFHQ_TEMPLATE_512 * (size / 512.0))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    moved: np.ndarray = pts @ matrix[:, :2].T + matrix[:, 2]
    return moved.astype(np.float32)


def kps_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The 5 key points insightface uses, from 68 iBUG landmarks, viewer's left first."""
    lm = np.asarray(landmarks, dtype=np.float32)
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[30], lm[48], lm[54]]).astype(
        np.float32
    )
