"""The face swappers, one module per family: inswapper, hyperswap, ghost, simswap, uniface.

Each runs through the same detect → align → swap → mask → paste path (faceswap.pipeline.engine) with its
own template, crop side, normalisation, source vector and output handling (faceswap.pipeline.swappers.base).
"""

from __future__ import annotations

from faceswap.pipeline.swappers.base import Family, SwapperModel
from faceswap.pipeline.swappers.ghost import FAMILY as GHOST
from faceswap.pipeline.swappers.hyperswap import FAMILY as HYPERSWAP
from faceswap.pipeline.swappers.inswapper import FAMILY as INSWAPPER
from faceswap.pipeline.swappers.inswapper import INSWAPPER_128
from faceswap.pipeline.swappers.simswap import FAMILY as SIMSWAP
from faceswap.pipeline.swappers.uniface import FAMILY as UNIFACE

__all__ = ["DEFAULT_SWAPPER", "FAMILIES", "SWAPPERS", "SWAPPER_NAMES", "family_of"]

DEFAULT_SWAPPER = INSWAPPER_128.name
FAMILIES: dict[str, Family] = {
    family.name: family for family in (INSWAPPER, HYPERSWAP, GHOST, SIMSWAP, UNIFACE)
}
SWAPPERS: dict[str, SwapperModel] = {
    model.name: model for family in FAMILIES.values() for model in family.models
}
SWAPPER_NAMES: tuple[str, ...] = tuple(SWAPPERS)


def family_of(model: SwapperModel) -> Family:
    """The family whose recipes feed `model`."""
    return FAMILIES[model.family]
