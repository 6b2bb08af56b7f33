"""GHOST 1/2/3 (ai-forever, 2022): 256 crop on arcface_112_v1, -1..1 in and out; the source is the
CrossFace converter's output for the raw ArcFace embedding, left un-normalised (GHOST's own pipeline
uses its ArcFace output raw), and identity strength mixes in the target's raw embedding."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.swappers.base import Family, Identity, LoadedSwapper, SwapperModel, convert

__all__ = ["FAMILY", "MODELS"]

MODELS = tuple(
    SwapperModel(
        f"ghost_{blocks}_256",
        "ghost",
        256,
        "arcface_112_v1",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        denormalise=True,
        source="converted",
        converter="crossface_ghost",
    )
    for blocks in (1, 2, 3)
)


def source_input(identity: Identity, loaded: LoadedSwapper) -> np.ndarray:
    """crossface_ghost(raw embedding), raw, 1x512."""
    assert loaded.converter is not None
    return convert(loaded.converter, identity.raw).reshape(1, -1)


def target_vector(raw: np.ndarray) -> np.ndarray:
    """The target face's raw embedding (FaceFusion does not normalise it for ghost)."""
    return np.asarray(raw, dtype=np.float32)


FAMILY = Family("ghost", MODELS, source_input, target_vector)
