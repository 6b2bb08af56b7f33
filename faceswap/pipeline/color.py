"""Colour match: the swapped face's colour statistics moved onto the target face's, inside a mask.

Reinhard's transfer in CIE L*a*b*: per channel, the swapped crop is shifted and scaled so that its
mean and standard deviation, weighted by a face-shaped mask, equal the target crop's; the transfer is
applied by the same weights, so hair, neck and background around the face keep their colours. No model.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from faceswap.pipeline.arrays import Frame, Mask

__all__ = ["match_colors", "weighted_stats"]

MIN_SPREAD = 1e-3
"""Below this standard deviation (L*a*b* units) a channel is treated as flat and only shifted."""


def _lab(image: Frame) -> NDArray[np.float32]:
    return cv2.cvtColor(image.astype(np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_BGR2LAB)


def weighted_stats(image: Frame, weights: Mask) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel mean and standard deviation of `image` in L*a*b*, weighted by `weights`."""
    lab = _lab(image).reshape(-1, 3).astype(np.float64)
    w = weights.reshape(-1).astype(np.float64)
    total = w.sum()
    if total <= 0:
        raise ValueError("the mask has no weight")
    mean = (lab * w[:, None]).sum(axis=0) / total
    spread = np.sqrt(((lab - mean) ** 2 * w[:, None]).sum(axis=0) / total)
    return mean, spread


def match_colors(swapped: Frame, target: Frame, weights: Mask) -> Frame:
    """`swapped` with its colour statistics inside `weights` matched to `target`'s (same-size crops), the
    transfer applied in proportion to `weights`: where they are 0 the crop stays as it was."""
    if weights.sum() <= 0:
        return swapped.copy()
    source_mean, source_spread = weighted_stats(swapped, weights)
    target_mean, target_spread = weighted_stats(target, weights)
    scale = np.where(source_spread > MIN_SPREAD, target_spread / np.maximum(source_spread, MIN_SPREAD), 1.0)
    lab = (_lab(swapped) - source_mean) * scale + target_mean
    bgr = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2BGR) * np.float32(255.0)
    original = swapped.astype(np.float32)
    mixed = original + (bgr - original) * weights[:, :, None]
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
