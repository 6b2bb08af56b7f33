"""inswapper_128 (InsightFace): the 128 crop on the shifted ArcFace template, 0..1 in and out; the source
is the normalised embedding through the file's emap, normalised again (insightface's INSwapper)."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.embed import identity_latent
from faceswap.pipeline.swappers.base import Family, Identity, LoadedSwapper, SwapperModel, normalised

__all__ = ["FAMILY", "INSWAPPER_128"]

INSWAPPER_128 = SwapperModel("inswapper_128", "inswapper", 128, "arcface_128", source="latent")


def source_input(identity: Identity, loaded: LoadedSwapper) -> np.ndarray:
    """The emap latent of the (mean) normalised embedding."""
    assert loaded.emap is not None
    return identity_latent(identity.normed, loaded.emap)


FAMILY = Family("inswapper", (INSWAPPER_128,), source_input, normalised)
