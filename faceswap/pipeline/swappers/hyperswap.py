"""HyperSwap 1a/1b/1c (FaceFusion, 2025): 256 crop on arcface_128, -1..1 in and out; the source is the
normalised ArcFace embedding (with several photos, the mean of theirs, as FaceFusion leaves it).

The file's second output (a 1x1x256x256 mask) is already applied inside the graph: the generated face is
blended into the input crop by it before output 0 (swapper-notes §2), so it is not used again here."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.swappers.base import Family, Identity, LoadedSwapper, SwapperModel, normalised

__all__ = ["FAMILY", "MODELS"]

MODELS = tuple(
    SwapperModel(
        f"hyperswap_1{variant}_256",
        "hyperswap",
        256,
        "arcface_128",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        denormalise=True,
    )
    for variant in "abc"
)


def source_input(identity: Identity, loaded: LoadedSwapper) -> np.ndarray:
    """FaceFusion's `embedding_norm`, 1x512."""
    return np.asarray(identity.normed, dtype=np.float32).reshape(1, -1)


FAMILY = Family("hyperswap", MODELS, source_input, normalised)
