"""One face followed through the frames of a clip: box overlap first, identity when overlap is unsure.

A face is kept across missed detections and cuts: it is found again by its embedding wherever it reappears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from faceswap.pipeline.detect import Face

__all__ = ["Track", "box_overlap", "follow"]

SURE_OVERLAP = 0.5
"""Intersection over union above which a lone candidate is the same face without looking at identity."""
MIN_SIMILARITY = 0.5
"""Cosine similarity to the face first chosen above which a candidate is that face (after a cut)."""

Embed = Callable[[Face], np.ndarray]


@dataclass
class Track:
    """The followed face: its identity when first chosen and its box when last seen."""

    embedding: np.ndarray
    box: tuple[float, float, float, float]


def box_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def follow(track: Track, faces: list[Face], embed: Embed) -> Face | None:
    """The face of this frame that is the tracked one, or None; the track's box moves to it.

    One face overlapping the last box well is taken as is; otherwise each face's embedding is compared
    with the tracked identity and the most similar one over MIN_SIMILARITY wins, overlap breaking ties.
    """
    overlaps = [box_overlap(track.box, face.bbox) for face in faces]
    sure = [face for face, overlap in zip(faces, overlaps, strict=True) if overlap >= SURE_OVERLAP]
    if len(sure) == 1:
        track.box = sure[0].bbox
        return sure[0]
    best: Face | None = None
    best_score = -np.inf
    for face, overlap in zip(faces, overlaps, strict=True):
        similarity = float(embed(face) @ track.embedding)
        if similarity >= MIN_SIMILARITY and similarity + overlap > best_score:
            best, best_score = face, similarity + overlap
    if best is not None:
        track.box = best.bbox
    return best
