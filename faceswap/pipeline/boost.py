"""Pixel boost: a crop of n = k·128 pixels swapped as k² interleaved 128 tiles, then reassembled.

Tile `i·k + j` is `crop[i::k, j::k]`: every k-th pixel, starting at row i and column j, so each tile is
the whole face at 128 pixels, sampled at a different offset. Swapped with the same identity and put back
in their places, the tiles give the swapped face at n pixels (FaceFusion's `implode_pixel_boost` and
`explode_pixel_boost`). The real swapper takes one crop per run, so the tiles run one after another.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from faceswap.pipeline.arrays import Frame

__all__ = ["BOOST_SIZES", "TILE", "merge_tiles", "split_tiles", "swap_boosted"]

TILE = 128
BOOST_SIZES = (128, 256, 384, 512)


def _factor(size: int) -> int:
    if size % TILE or size < TILE:
        raise ValueError(f"a boosted crop's side must be a multiple of {TILE}, not {size}")
    return size // TILE


def split_tiles(crop: Frame) -> Frame:
    """The k² interleaved TILE x TILE tiles of a k·TILE square crop, as a (k², TILE, TILE, C) array."""
    k = _factor(crop.shape[0])
    channels = crop.shape[2]
    tiles = crop.reshape(TILE, k, TILE, k, channels).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(tiles.reshape(k * k, TILE, TILE, channels))


def merge_tiles(tiles: Frame) -> Frame:
    """The k·TILE square crop whose interleaved tiles are `tiles` (the inverse of split_tiles)."""
    k = math.isqrt(tiles.shape[0])
    if k * k != tiles.shape[0]:
        raise ValueError(f"{tiles.shape[0]} tiles do not make a square")
    channels = tiles.shape[3]
    crop = tiles.reshape(k, k, TILE, TILE, channels).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(crop.reshape(k * TILE, k * TILE, channels))


def swap_boosted(crop: Frame, swap_tile: Callable[[Frame], Frame]) -> Frame:
    """The swapped crop: `swap_tile` (one TILE crop in, its swap out) run on each tile, reassembled."""
    if crop.shape[0] == TILE:
        return swap_tile(crop)
    tiles = split_tiles(crop)
    return merge_tiles(np.stack([swap_tile(tile) for tile in tiles]))
