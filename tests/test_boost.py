"""Pixel boost's tiling: interleaved tiles, their exact inverse, one swap per tile."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap.pipeline.boost import TILE, merge_tiles, split_tiles, swap_boosted


@pytest.mark.parametrize("k", [2, 3, 4])
def test_tile_i_k_plus_j_is_every_kth_pixel_from_row_i_column_j(k: int) -> None:
    crop = np.random.default_rng(k).integers(0, 256, (k * TILE, k * TILE, 3), dtype=np.uint8)
    tiles = split_tiles(crop)
    assert tiles.shape == (k * k, TILE, TILE, 3)
    for i in range(k):
        for j in range(k):
            assert np.array_equal(tiles[i * k + j], crop[i::k, j::k])


@pytest.mark.parametrize("k", [1, 2, 4])
def test_merge_is_the_exact_inverse_of_split(k: int) -> None:
    crop = np.random.default_rng(7).integers(0, 256, (k * TILE, k * TILE, 3), dtype=np.uint8)
    before = crop.copy()
    assert np.array_equal(merge_tiles(split_tiles(crop)), crop)
    assert np.array_equal(crop, before)


def test_a_side_that_is_not_a_multiple_of_128_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 128"):
        split_tiles(np.zeros((200, 200, 3), np.uint8))


def test_each_tile_is_swapped_once_and_put_back_in_its_place() -> None:
    crop = np.random.default_rng(3).integers(0, 200, (3 * TILE, 3 * TILE, 3), dtype=np.uint8)
    seen: list[np.ndarray] = []

    def swap_tile(tile: np.ndarray) -> np.ndarray:
        seen.append(tile.copy())
        return tile + np.uint8(len(seen))

    boosted = swap_boosted(crop, swap_tile)
    assert len(seen) == 9
    for i in range(3):
        for j in range(3):
            assert np.array_equal(boosted[i::3, j::3], crop[i::3, j::3] + np.uint8(i * 3 + j + 1))


def test_a_128_crop_is_swapped_as_it_is() -> None:
    crop = np.zeros((TILE, TILE, 3), np.uint8)
    calls: list[np.ndarray] = []
    assert swap_boosted(crop, lambda tile: calls.append(tile) or tile) is crop
    assert calls[0] is crop
