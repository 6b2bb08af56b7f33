"""Face masks in crop space: where the swapped face is kept (1) and where the target stays (0).

As FaceFusion makes them (`face_masker.py`), each a float32 mask of the crop's size in 0..1, combined by
the element-wise minimum, so a pixel is swapped only where every chosen mask keeps it:

- box: the crop with a border cleared (the padding, or a width that grows with the blur) and its edge
  blurred; at the default blur and no padding, exactly the plain swap's paste mask;
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

from faceswap.pipeline.arrays import Frame, Mask, Points
from faceswap.pipeline.blend import EDGE_MARGIN, FEATHER

__all__ = [
    "OCCLUDER_SIZE",
    "PARSER_SIZE",
    "REGION_LABELS",
    "box_mask",
    "combine_masks",
    "face_shape_mask",
    "occlusion_mask",
    "region_mask",
]

FACE_WIDTH = 1.1
"""The face ellipse's half width, in eye distances."""
FACE_HEIGHT = 0.95
"""Its half height, in eye-to-mouth distances."""
FACE_CENTRE = 0.4
"""Its centre below the eyes, in eye-to-mouth distances."""
FACE_FEATHER = 0.02
"""Its edge's blur, as a fraction of the crop's side."""
DEFAULT_BLUR = 0.3
"""The box mask's default blur: the plain swap's soft edge."""
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
    """The box mask: the plain swap's soft-edged crop (`blend.crop_mask`) at the default blur and no
    padding, so `{"types": ["box"]}` is the default it is called. `blur` (0..1) scales its cleared border
    and its feather from there (0: a hard edge one pixel in); `padding` percent (top, right, bottom, left)
    clears more where it is larger. Read-only and cached: the same few masks serve every request."""
    scale = blur / DEFAULT_BLUR
    border = max(1, round(size * EDGE_MARGIN * scale))
    top, right, bottom, left = (max(border, int(size * value / 100)) for value in padding)
    mask = np.ones((size, size), dtype=np.float32)
    mask[:top, :] = 0
    mask[size - bottom :, :] = 0
    mask[:, :left] = 0
    mask[:, size - right :] = 0
    kernel = round(size * FEATHER * scale) | 1
    if kernel >= 3:
        mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)
    mask.setflags(write=False)
    return mask


def _finish(mask: NDArray[np.float32], size: int) -> Mask:
    """Resized to the crop, blurred, and its lower half cleared: a soft edge around an exact inside."""
    resized = cv2.resize(np.clip(mask, 0, 1).astype(np.float32), (size, size))
    blurred = cv2.GaussianBlur(resized.clip(0, 1), (0, 0), MODEL_MASK_SIGMA)
    return ((blurred.clip(0.5, 1) - 0.5) * 2).astype(np.float32)


@lru_cache(maxsize=16)
def _face_shape(points: tuple[float, ...], size: int) -> Mask:
    eyes = np.array(points[0:4], dtype=np.float64).reshape(2, 2)
    mouth = np.array(points[6:10], dtype=np.float64).reshape(2, 2)
    eye_centre, mouth_centre = eyes.mean(axis=0), mouth.mean(axis=0)
    spread = float(np.linalg.norm(eyes[1] - eyes[0]))
    height = float(mouth_centre[1] - eye_centre[1])
    centre = (round(eye_centre[0]), round(eye_centre[1] + FACE_CENTRE * height))
    axes = (round(FACE_WIDTH * spread), round(FACE_HEIGHT * height))
    mask = np.zeros((size, size), dtype=np.float32)
    cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1.0, thickness=-1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(size * FACE_FEATHER, 0.5))
    mask.setflags(write=False)
    return mask


def face_shape_mask(points: Points, size: int) -> Mask:
    """An ellipse over the face (forehead to chin, cheek to cheek) placed by the crop's five template
    points (eyes, nose, mouth corners), soft-edged: what colour match is weighted by. Read-only, cached."""
    return _face_shape(tuple(float(value) for value in np.asarray(points).ravel()), size)


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
