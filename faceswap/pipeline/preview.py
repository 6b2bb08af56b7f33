"""A small annotated picture of the faces found, so a user can pick an index by its number."""

from __future__ import annotations

import cv2
import numpy as np

from faceswap.pipeline.arrays import Frame
from faceswap.pipeline.decode import fit_within
from faceswap.pipeline.detect import Face

__all__ = ["PREVIEW_SIDE", "annotate_faces"]

PREVIEW_SIDE = 512
BOX_BGR = (60, 220, 60)


def annotate_faces(frame: Frame, faces: list[Face], side: int = PREVIEW_SIDE) -> Frame:
    """A copy of `frame`, at most `side` on its longer side, with each face's box and 1-based number."""
    small = fit_within(frame, side)
    scale = small.shape[1] / frame.shape[1]
    canvas = np.array(small, copy=True)
    thickness = max(1, round(max(canvas.shape[:2]) / 256))
    for number, face in enumerate(faces, start=1):
        x1, y1, x2, y2 = (round(value * scale) for value in face.bbox)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_BGR, thickness)
        label = str(number)
        font_scale = max(0.5, (x2 - x1) / 80)
        (width, height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness + 1)
        top = max(0, y1 - height - 6)
        cv2.rectangle(canvas, (x1, top), (x1 + width + 6, top + height + 6), BOX_BGR, -1)
        cv2.putText(
            canvas,
            label,
            (x1 + 3, top + height + 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness + 1,
        )
    return canvas
