"""SimSwap 256 and the unofficial SimSwap 512 (neuralchen, 2020): arcface_112_v1; the 256 file takes
ImageNet-normalised input, the 512 one plain 0..1; both answer in 0..1 (clipped, never de-normalised).
The source is the CrossFace converter's output for the raw ArcFace embedding, L2-normalised."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.swappers.base import Family, Identity, LoadedSwapper, SwapperModel, convert, normalised

__all__ = ["FAMILY", "SIMSWAP_256", "SIMSWAP_UNOFFICIAL_512"]

SIMSWAP_256 = SwapperModel(
    "simswap_256",
    "simswap",
    256,
    "arcface_112_v1",
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    source="converted",
    converter="crossface_simswap",
)
SIMSWAP_UNOFFICIAL_512 = SwapperModel(
    "simswap_unofficial_512",
    "simswap",
    512,
    "arcface_112_v1",
    source="converted",
    converter="crossface_simswap",
)


def source_input(identity: Identity, loaded: LoadedSwapper) -> np.ndarray:
    """normalise(crossface_simswap(raw embedding)), 1x512."""
    assert loaded.converter is not None
    return normalised(convert(loaded.converter, identity.raw)).reshape(1, -1)


FAMILY = Family("simswap", (SIMSWAP_256, SIMSWAP_UNOFFICIAL_512), source_input, normalised)
