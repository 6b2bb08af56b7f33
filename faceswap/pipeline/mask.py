"""Face masks in crop space: where the swapped face is kept (1) and where the target stays (0).

As FaceFusion makes them (`face_masker.py`), each a float32 mask of the crop's size in 0..1, combined by
the element-wise minimum, so a pixel is swapped only where every chosen mask keeps it:

- box: the crop with a border cleared (the padding, or half the blur width) and its edge blurred;
- occlusion: an XSeg occluder's verdict on the target crop: what covers the face (hair, hands, glasses)
  scores low and stays the target's;
- region: a BiSeNet face parser's labels on the swapped crop: only the chosen regions are kept.

The two model masks finish alike: Gaussian blur (sigma 5), then values under 0.5 cleared and the rest
stretched to 0..1, so a mask's edge is soft while its inside stays exactly 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from faceswap.pipeline.arrays import Frame, Mask

__all__ = [
    "OCCLUDER_SIZE",
    "PARSER_SIZE",
    "REGION_LABELS",
    "box_mask",
    "combine_masks",
    "occlusion_mask",
    "region_mask",
]

OCCLUDER_SIZE = 256
PARSER_SIZE = 512
MODEL_MASK_SIGMA = 5
PARSER_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
PARSER_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

REGION_LABELS: dict[str, tuple[int, ...]] = {
    "skin": (1,),
    "brows": (2, 3),
    "eyes": (4, 5),
    "glasses": (6,),
    "nose": (10,),
    "mouth": (11,),
    "lips": (12, 13),
}
"""The regions a request may keep, as labels of the parser's 19 classes (face-parsing's CelebAMask-HQ
order: 0 background, 1 skin, 2/3 brows, 4/5 eyes, 6 glasses, 7-9 ears, 10 nose, 11 mouth, 12/13 lips,
14/15 neck, 16 cloth, 17 hair, 18 hat). Hair, ears, neck and hat cannot be chosen."""


@lru_cache(maxsize=8)
def box_mask(size: int, blur: float, padding: tuple[float, float, float, float]) -> Mask:
    """The box mask: a border of `padding` percent (top, right, bottom, left) or half the blur width,
    whichever is larger, cleared; then blurred by `blur` (0..1, a fraction of half the crop's side).
    Read-only and cached: the same few masks serve every face of every request."""
    blur_amount = int(size * 0.5 * blur)
    border = max(blur_amount // 2, 1)
    top, right, bottom, left = (max(border, int(size * value / 100)) for value in padding)
    mask = np.ones((size, size), dtype=np.float32)
    mask[:top, :] = 0
    mask[size - bottom :, :] = 0
    mask[:, :left] = 0
    mask[:, size - right :] = 0
    if blur_amount > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_amount * 0.25)
    mask.setflags(write=False)
    return mask


def _finish(mask: NDArray[np.float32], size: int) -> Mask:
    """Resized to the crop, blurred, and its lower half cleared: a soft edge around an exact inside."""
    resized = cv2.resize(np.clip(mask, 0, 1).astype(np.float32), (size, size))
    blurred = cv2.GaussianBlur(resized.clip(0, 1), (0, 0), MODEL_MASK_SIGMA)
    return ((blurred.clip(0.5, 1) - 0.5) * 2).astype(np.float32)


def occlusion_mask(session: ort.InferenceSession, crop: Frame) -> Mask:
    """The occluder's mask of `crop`: NHWC [1,256,256,3] BGR in 0..1 in, [1,256,256,1] out."""
    blob = cv2.resize(crop, (OCCLUDER_SIZE, OCCLUDER_SIZE)).astype(np.float32)[None] / np.float32(255.0)
    name = session.get_inputs()[0].name
    (prediction,) = session.run([session.get_outputs()[0].name], {name: blob})
    return _finish(np.asarray(prediction, dtype=np.float32)[0, :, :, 0], crop.shape[0])


def region_mask(session: ort.InferenceSession, crop: Frame, regions: Sequence[str]) -> Mask:
    """The parser's mask of `crop` keeping `regions`: NCHW [1,3,512,512] RGB, ImageNet-normalised, in;
    [1,19,512,512] logits out (the first output)."""
    rgb = cv2.resize(crop, (PARSER_SIZE, PARSER_SIZE))[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    blob = np.ascontiguousarray(((rgb - PARSER_MEAN) / PARSER_STD).transpose(2, 0, 1)[None], dtype=np.float32)
    name = session.get_inputs()[0].name
    (logits,) = session.run([session.get_outputs()[0].name], {name: blob})
    labels = np.asarray(logits)[0].argmax(axis=0)
    wanted = [label for region in regions for label in REGION_LABELS[region]]
    return _finish(np.isin(labels, wanted).astype(np.float32), crop.shape[0])


def combine_masks(masks: Sequence[Mask]) -> Mask:
    """The element-wise minimum of the masks, in 0..1."""
    return np.clip(np.minimum.reduce([np.asarray(mask, dtype=np.float32) for mask in masks]), 0, 1)
