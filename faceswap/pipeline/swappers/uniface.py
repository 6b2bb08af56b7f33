"""UniFace (xc-csc101, 2022): 256 crop on ffhq_512, -1..1 in and out; the source is an image, the first
source photo's face aligned on ffhq_512 at 256, RGB 0..1. No identity vector: identity strength does not
apply, and with several photos only the first one's face is used (as in FaceFusion)."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.swappers.base import Family, Identity, LoadedSwapper, SwapperModel

__all__ = ["FAMILY", "PORTRAIT_TEMPLATE", "UNIFACE_256"]

UNIFACE_256 = SwapperModel(
    "uniface_256",
    "uniface",
    256,
    "ffhq_512",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    denormalise=True,
    source="image",
)
PORTRAIT_TEMPLATE = ("ffhq_512", 256)
"""How the source face is aligned for it: template and side."""


def source_input(identity: Identity, loaded: LoadedSwapper) -> np.ndarray:
    """The aligned source face, RGB 0..1, 1x3x256x256."""
    assert identity.portrait is not None
    rgb = identity.portrait[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)


FAMILY = Family("uniface", (UNIFACE_256,), source_input, None)
