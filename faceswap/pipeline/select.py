"""Which source identity goes onto which target face: a pair, a list of pairs, all faces, or a match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.detect import Face, pick_face

__all__ = ["ALL_FACES", "Assignment", "TargetChoice", "best_match", "plan_assignments"]

ALL_FACES = "all"
TargetChoice = int | Literal["all"]


@dataclass(frozen=True)
class Assignment:
    """Put the source's `source_index`-th identity onto the target's `target_index`-th face (1-based)."""

    source_index: int
    target_index: int
    similarity: float | None = None
    similarity_after: float | None = None
    """With `report_similarity`: cosine of the source identity and the swapped face as pasted."""


def plan_assignments(
    target_faces: list[Face],
    *,
    source_index: int,
    target_index: TargetChoice,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> list[Assignment]:
    """The swaps to make, in order, each target index checked against the faces found."""
    if pairs:
        for _, index in pairs:
            pick_face(target_faces, index, "target")
        return [Assignment(source, target) for source, target in pairs]
    if target_index == ALL_FACES:
        if not target_faces:
            raise SwapError(ErrorCode.NO_FACE, "No face was found in the target image.")
        return [Assignment(source_index, index) for index in range(1, len(target_faces) + 1)]
    pick_face(target_faces, target_index, "target")
    return [Assignment(source_index, target_index)]


def best_match(
    reference: np.ndarray, candidates: Sequence[np.ndarray], threshold: float
) -> tuple[int, float]:
    """(1-based index, cosine similarity) of the candidate embedding closest to `reference`, or NO_FACE."""
    if not candidates:
        raise SwapError(ErrorCode.NO_FACE, "No face was found in the target image.")
    similarities = np.stack(candidates) @ reference
    best = int(np.argmax(similarities))
    similarity = float(similarities[best])
    if similarity < threshold:
        raise SwapError(
            ErrorCode.NO_FACE,
            f"No face in the target image matches the reference person "
            f"(best similarity {similarity:.2f}, threshold {threshold:.2f}).",
        )
    return best + 1, similarity
