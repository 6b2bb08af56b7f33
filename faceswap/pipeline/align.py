"""Similarity alignment of a face's five keypoints onto the ArcFace template."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap.pipeline.arrays import Frame, Matrix, Points

__all__ = ["ARCFACE_TEMPLATE", "TEMPLATES", "align_face", "align_to", "estimate_similarity", "template_for"]

ARCFACE_TEMPLATE: Points = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

TEMPLATES: dict[str, Points] = {
    name: np.array(points, dtype=np.float32)
    for name, points in {
        # FaceFusion's WARP_TEMPLATE_SET (face_helper.py), in fractions of the crop's side.
        "arcface_112_v1": [
            [0.35473214, 0.45658929],
            [0.64526786, 0.45658929],
            [0.50000000, 0.61154464],
            [0.37913393, 0.77687500],
            [0.62086607, 0.77687500],
        ],
        "arcface_128": [
            [0.36167656, 0.40387734],
            [0.63696719, 0.40235469],
            [0.50019687, 0.56044219],
            [0.38710391, 0.72160547],
            [0.61507734, 0.72034453],
        ],
        "ffhq_512": [
            [0.37691676, 0.46864664],
            [0.62285697, 0.46912813],
            [0.50123859, 0.61331904],
            [0.39308822, 0.72541100],
            [0.61150205, 0.72490465],
        ],
    }.items()
}
"""The alignment templates of the swappers beside inswapper (whose own is `template_for`)."""


def template_for(size: int) -> Points:
    """The template for a square crop of `size`, placed as insightface places it (112- or 128-based)."""
    if size % 112 == 0:
        return ARCFACE_TEMPLATE * (size / 112.0)
    ratio = size / 128.0
    shifted = ARCFACE_TEMPLATE * ratio
    shifted[:, 0] += 8.0 * ratio
    return shifted


def estimate_similarity(source: Points, destination: Points) -> Matrix:
    """Least-squares similarity transform (Umeyama, no reflection) mapping `source` onto `destination`.

    Returns the 2x3 matrix M with destination ≈ M @ [x, y, 1]. Same result as scikit-image's
    SimilarityTransform, which insightface uses, without its per-call deprecation warning.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(destination, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflection[1, 1] = -1.0
    rotation = u @ reflection @ vt
    variance = src_c.var(axis=0).sum()
    scale = (singular * np.diag(reflection)).sum() / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(frame: Frame, keypoints: Points, size: int) -> tuple[Frame, Matrix]:
    """Warp the face into a `size`x`size` crop; returns the crop and the frame→crop matrix."""
    return _warp(frame, keypoints, template_for(size), size)


def align_to(frame: Frame, keypoints: Points, template: str, size: int) -> tuple[Frame, Matrix]:
    """Warp the face onto one of TEMPLATES at `size`x`size`; returns the crop and the frame→crop matrix."""
    return _warp(frame, keypoints, TEMPLATES[template] * np.float32(size), size)


def _warp(frame: Frame, keypoints: Points, points: Points, size: int) -> tuple[Frame, Matrix]:
    matrix = estimate_similarity(keypoints, points)
    crop = cv2.warpAffine(frame, matrix, (size, size), borderValue=0.0)
    return crop, matrix
