"""Photo-like test images with faces the stand-in detector finds, encoded as JPEG.

The synthetic pack's faces (saturated colour grids) on a grey background, plus grain and a soft gradient
that are the same in all three channels: the detector, which keys on channel spread, sees exactly the drawn
faces, while PNG and JPEG see texture, so encoding costs what it costs on photos rather than on flat graphics.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from faceswap.testing.synthetic import BACKGROUND_BGR, Box, layout_faces, place_faces

__all__ = ["GRAIN", "JPEG_QUALITY", "centred_face", "face_boxes", "jpeg", "photo_like"]

GRAIN = 10.0
"""Standard deviation of the grain, in 8-bit levels."""

JPEG_QUALITY = 92


def centred_face(width: int, height: int, fraction: float) -> Box:
    """One square face box `fraction` of the image's width wide (at most its height), centred."""
    side = min(height, round(width * fraction))
    x, y = (width - side) // 2, (height - side) // 2
    return x, y, x + side, y + side


def face_boxes(width: int, height: int, count: int, fraction: float | None = None) -> list[Box]:
    """`count` faces in a row sized for a 640 detector input, or one centred face `fraction` wide."""
    if fraction is not None and count == 1:
        return [centred_face(width, height, fraction)]
    return layout_faces(width, height, count)


def photo_like(width: int, height: int, boxes: Sequence[Box], seed: int) -> np.ndarray:
    """A BGR image: grey with a soft gradient, the faces in `boxes` (identities from `seed`), grain on top."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    shade = 24.0 * (np.cos(angle) * xs + np.sin(angle) * ys)
    canvas = np.full((height, width, 3), BACKGROUND_BGR, dtype=np.uint8)
    image = place_faces(canvas, boxes, [seed * 1000 + i for i in range(len(boxes))])
    luminance = shade + rng.normal(0.0, GRAIN, (height, width)).astype(np.float32)
    out = image.astype(np.float32)
    out += luminance[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return data.tobytes()
