"""Paste-back of a swapped face crop into the target, limited to the face's region.

Only the frame region the crop covers is touched: its float buffers are region-sized, never
frame-sized, so a 4000x3000 target costs the same blend work as a 1024 one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from faceswap.pipeline.arrays import Frame, Mask, Matrix

__all__ = ["Patch", "crop_mask", "paste_back", "paste_region"]

EDGE_MARGIN = 0.0625
"""Fraction of the crop side left out at each border before feathering."""

FEATHER = 0.12
"""Gaussian kernel size as a fraction of the crop side: the soft edge's width."""


@dataclass(frozen=True)
class Patch:
    """Pixels that replace the frame region whose top-left corner is (x, y)."""

    x: int
    y: int
    pixels: Frame


@lru_cache(maxsize=4)
def crop_mask(size: int) -> Mask:
    """Blend weights in crop space: 1 inside, feathered to 0 well before the crop's border."""
    margin = max(1, round(size * EDGE_MARGIN))
    mask = np.zeros((size, size), dtype=np.float32)
    mask[margin:-margin, margin:-margin] = 1.0
    kernel = max(3, round(size * FEATHER) | 1)
    mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)
    mask.setflags(write=False)
    return mask


def paste_region(frame_shape: tuple[int, ...], matrix: Matrix, size: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the frame pixels a `size` crop with frame→crop `matrix` covers, clipped."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    mapped = corners @ inverse.T
    height, width = frame_shape[:2]
    x0 = max(0, math.floor(mapped[:, 0].min()))
    y0 = max(0, math.floor(mapped[:, 1].min()))
    x1 = min(width, math.ceil(mapped[:, 0].max()) + 1)
    y1 = min(height, math.ceil(mapped[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste_back(frame: Frame, swapped: Frame, matrix: Matrix, mask: Mask | None = None) -> Patch | None:
    """Blend the `swapped` crop (made with frame→crop `matrix`) into the frame: a Patch of the face region.

    `mask` (crop-sized, 0..1) weighs the swap against the frame; by default, `crop_mask`.
    """
    size = swapped.shape[0]
    region = paste_region(frame.shape, matrix, size)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    to_region = cv2.invertAffineTransform(matrix)
    to_region[:, 2] -= (x0, y0)
    region_size = (x1 - x0, y1 - y0)
    face = cv2.warpAffine(
        swapped, to_region, region_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    weights = crop_mask(size) if mask is None else mask
    weight = cv2.warpAffine(weights, to_region, region_size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    keep = np.subtract(1.0, weight, dtype=np.float32)
    blended = cv2.blendLinear(face, np.ascontiguousarray(frame[y0:y1, x0:x1]), weight, keep)
    return Patch(x=x0, y=y0, pixels=blended)
