"""Pixel boost: a crop of n = k·s pixels swapped as k² interleaved tiles of the swapper's own side s
(128 for inswapper, 256 or 512 for the others), then reassembled.

Tile `i·k + j` is `crop[i::k, j::k]`: every k-th pixel, starting at row i and column j, so each tile is
the whole face at s pixels, sampled at a different offset. Swapped with the same identity and put back
in their places, the tiles give the swapped face at n pixels (FaceFusion's `implode_pixel_boost` and
`explode_pixel_boost`). The real swapper takes one crop per run, so the tiles run one after another.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from faceswap.pipeline.arrays import Frame

__all__ = ["SIDES", "TILE", "boost_sizes", "merge_tiles", "split_tiles", "swap_boosted"]

TILE = 128
SIDES = (128, 256, 384, 512, 768, 1024)
"""Every crop side offered (FaceFusion's choices: 640 and 896 are not among them)."""


def boost_sizes(tile: int) -> tuple[int, ...]:
    """The crop sides a swapper of side `tile` takes: the multiples of it among SIDES."""
    return tuple(side for side in SIDES if side % tile == 0)


def _factor(size: int, tile: int) -> int:
    if size % tile or size < tile:
        raise ValueError(f"a boosted crop's side must be a multiple of {tile}, not {size}")
    return size // tile


def split_tiles(crop: Frame, tile: int = TILE) -> Frame:
    """The k² interleaved tile x tile tiles of a k·tile square crop, as a (k², tile, tile, C) array."""
    k = _factor(crop.shape[0], tile)
    channels = crop.shape[2]
    tiles = crop.reshape(tile, k, tile, k, channels).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(tiles.reshape(k * k, tile, tile, channels))


def merge_tiles(tiles: Frame) -> Frame:
    """The k·tile square crop whose interleaved tiles are `tiles` (the inverse of split_tiles)."""
    k = math.isqrt(tiles.shape[0])
    if k * k != tiles.shape[0]:
        raise ValueError(f"{tiles.shape[0]} tiles do not make a square")
    tile, channels = tiles.shape[1], tiles.shape[3]
    crop = tiles.reshape(k, k, tile, tile, channels).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(crop.reshape(k * tile, k * tile, channels))


def swap_boosted(crop: Frame, swap_tile: Callable[[Frame], Frame], tile: int = TILE) -> Frame:
    """The swapped crop: `swap_tile` (one tile crop in, its swap out) run on each tile, reassembled."""
    if crop.shape[0] == tile:
        return swap_tile(crop)
    tiles = split_tiles(crop, tile)
    return merge_tiles(np.stack([swap_tile(part) for part in tiles]))
