"""Detection results → faces ordered as the contract numbers them → the chosen one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from faceswap.errors import ErrorCode, SwapError, image_label
from faceswap.pipeline.arrays import Frame, Points

__all__ = ["Detector", "Face", "detect_faces", "detection_size", "order_faces", "pick_face"]


class Detector(Protocol):
    """What insightface's SCRFD offers that we use."""

    def detect(
        self,
        img: Frame,
        input_size: tuple[int, int] | None = ...,
        max_num: int = ...,
        metric: str = ...,
        det_thresh: float | None = ...,
    ) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2) clipped to the image, five keypoints, score."""

    bbox: tuple[float, float, float, float]
    keypoints: Points
    score: float


def detection_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """Detector input (w, h): the image's aspect at `longest` on the long side, rounded up to 32.

    Faces appear at exactly the scale a square `longest`x`longest` letterbox gives them, with
    less padding to run the network over.
    """
    scale = longest / max(width, height)
    return (
        max(32, math.ceil(width * scale / 32) * 32),
        max(32, math.ceil(height * scale / 32) * 32),
    )


def order_faces(faces: list[Face]) -> list[Face]:
    """Left to right by the box's left edge; ties by the top edge (the contract's numbering)."""
    return sorted(faces, key=lambda face: (face.bbox[0], face.bbox[1]))


def detect_faces(detector: Detector, frame: Frame, *, longest: int, threshold: float) -> list[Face]:
    """Every face in `frame`, in contract order."""
    height, width = frame.shape[:2]
    boxes, keypoints = detector.detect(
        frame, input_size=detection_size(width, height, longest), max_num=0, det_thresh=threshold
    )
    if keypoints is None:
        raise SwapError(
            ErrorCode.INTERNAL, "The face detector gives no landmarks, so faces cannot be aligned."
        )
    faces = [
        Face(
            bbox=(
                float(np.clip(box[0], 0, width)),
                float(np.clip(box[1], 0, height)),
                float(np.clip(box[2], 0, width)),
                float(np.clip(box[3], 0, height)),
            ),
            keypoints=np.asarray(points, dtype=np.float32),
            score=float(box[4]),
        )
        for box, points in zip(boxes, keypoints, strict=True)
    ]
    return order_faces(faces)


def pick_face(faces: list[Face], index: int, role: str) -> Face:
    """The 1-based `index`-th face of the `role` ("source"/"target") image, or the contract's error."""
    if index < 1:
        raise SwapError(
            ErrorCode.INVALID_INPUT, f"{role}_index must be 1 or more (faces are numbered from 1)."
        )
    if not faces:
        raise SwapError(ErrorCode.NO_FACE, f"No face was found in the {image_label(role)}.")
    if index > len(faces):
        noun = "face" if len(faces) == 1 else "faces"
        raise SwapError(
            ErrorCode.FACE_INDEX_OUT_OF_RANGE,
            f"{role}_index {index} is out of range: the {image_label(role)} has {len(faces)} {noun}.",
        )
    return faces[index - 1]
