"""What a request asks of the swap beyond the identity: the quality options, off by default."""

from __future__ import annotations

from dataclasses import dataclass

from faceswap.pipeline.mask import REGION_LABELS
from faceswap.pipeline.swappers import SWAPPER_NAMES, SWAPPERS
from faceswap.pipeline.swappers.base import DEFAULT_WEIGHT

__all__ = [
    "DEFAULT_QUALITY",
    "DEFAULT_REGIONS",
    "ENHANCERS",
    "MASK_TYPES",
    "Enhancer",
    "FaceMask",
    "Quality",
    "check_pixel_boost",
]

ENHANCERS = ("gfpgan_1.4", "codeformer", "gpen_bfr_512")
MASK_TYPES = ("box", "occlusion", "region")
DEFAULT_REGIONS = ("skin", "brows", "eyes", "nose", "mouth", "lips")
PIXEL_BOOSTS = tuple(sorted({size for model in SWAPPERS.values() for size in model.boost_sizes}))
"""Every crop side some swapper takes."""


@dataclass(frozen=True)
class FaceMask:
    """Which masks limit the paste (combined by intersection), their blur, padding and kept regions."""

    types: tuple[str, ...] = ("box",)
    blur: float = 0.3
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    regions: tuple[str, ...] = DEFAULT_REGIONS

    def __post_init__(self) -> None:
        if not self.types or not set(self.types) <= set(MASK_TYPES):
            raise ValueError(f"face_mask types must be some of {', '.join(MASK_TYPES)}")
        if not set(self.regions) <= set(REGION_LABELS):
            raise ValueError(f"face_mask regions must be some of {', '.join(REGION_LABELS)}")
        if not 0 <= self.blur <= 1 or len(self.padding) != 4 or not all(0 <= p <= 100 for p in self.padding):
            raise ValueError("face_mask blur must be 0..1 and padding four percentages 0..100")


@dataclass(frozen=True)
class Enhancer:
    """A face restoration model run on each swapped face, mixed with the swap by `blend`."""

    model: str
    blend: float = 0.8
    fidelity: float = 0.5

    def __post_init__(self) -> None:
        if self.model not in ENHANCERS:
            raise ValueError(f"face_enhancer model must be one of {', '.join(ENHANCERS)}")
        if not (0 <= self.blend <= 1 and 0 <= self.fidelity <= 1):
            raise ValueError("face_enhancer blend and fidelity must be 0..1")


@dataclass(frozen=True)
class Quality:
    """Per-request options applied to every swapped face; the defaults give the plain swap.

    `swapper` None is the deployment's default swapper; `pixel_boost` None is the swapper's own crop.
    """

    pixel_boost: int | None = None
    color_match: bool = False
    face_mask: FaceMask | None = None
    face_enhancer: Enhancer | None = None
    swapper: str | None = None
    swapper_weight: float = DEFAULT_WEIGHT
    report_similarity: bool = False

    def __post_init__(self) -> None:
        if self.swapper is not None and self.swapper not in SWAPPERS:
            raise ValueError(f"swapper must be one of {', '.join(SWAPPER_NAMES)}")
        if not 0 <= self.swapper_weight <= 1:
            raise ValueError("swapper_weight must be 0..1")
        if self.pixel_boost is not None and self.pixel_boost not in PIXEL_BOOSTS:
            raise ValueError(f"pixel_boost must be one of {', '.join(map(str, PIXEL_BOOSTS))}")
        if self.swapper is not None:
            check_pixel_boost(self.swapper, self.pixel_boost)


def check_pixel_boost(swapper: str, pixel_boost: int | None) -> None:
    """ValueError unless `pixel_boost` is a side `swapper` takes (a multiple of its crop up to 1024)."""
    sizes = SWAPPERS[swapper].boost_sizes
    if pixel_boost is not None and pixel_boost not in sizes:
        raise ValueError(f"pixel_boost for {swapper} must be one of {', '.join(map(str, sizes))}")


DEFAULT_QUALITY = Quality()
