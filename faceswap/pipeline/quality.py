"""What a request asks of the swap beyond the identity: the quality options, off by default."""

from __future__ import annotations

from dataclasses import dataclass

from faceswap.pipeline.boost import BOOST_SIZES, TILE

__all__ = ["DEFAULT_QUALITY", "Quality"]


@dataclass(frozen=True)
class Quality:
    """Per-request options applied to every swapped face; the defaults give the plain 128 swap."""

    pixel_boost: int = TILE
    color_match: bool = False

    def __post_init__(self) -> None:
        if self.pixel_boost not in BOOST_SIZES:
            raise ValueError(f"pixel_boost must be one of {', '.join(map(str, BOOST_SIZES))}")


DEFAULT_QUALITY = Quality()
