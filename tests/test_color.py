"""Colour match: the swapped crop's weighted L*a*b* statistics become the target crop's."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.blend import crop_mask
from faceswap.pipeline.color import match_colors, weighted_stats


def crops() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    swapped = rng.integers(40, 120, (128, 128, 3), dtype=np.uint8)
    target = rng.integers(120, 220, (128, 128, 3), dtype=np.uint8)
    target[..., 2] = rng.integers(160, 200, (128, 128), dtype=np.uint8)
    return swapped, target


def test_the_weighted_mean_and_spread_become_the_targets() -> None:
    swapped, target = crops()
    weights = np.ones((128, 128), np.float32)
    matched = match_colors(swapped, target, weights)
    got_mean, got_spread = weighted_stats(matched, weights)
    want_mean, want_spread = weighted_stats(target, weights)
    before_mean, _ = weighted_stats(swapped, weights)
    assert np.abs(got_mean - want_mean).max() < 1.0 < np.abs(before_mean - want_mean).max()
    assert np.abs(got_spread - want_spread).max() < 1.5


def test_the_inputs_are_not_changed() -> None:
    swapped, target = crops()
    copies = swapped.copy(), target.copy()
    match_colors(swapped, target, crop_mask(128))
    assert np.array_equal(swapped, copies[0]) and np.array_equal(target, copies[1])


def test_a_mask_without_weight_leaves_the_crop_as_it_was() -> None:
    swapped, target = crops()
    assert np.array_equal(match_colors(swapped, target, np.zeros((128, 128), np.float32)), swapped)


def test_a_flat_channel_is_only_shifted() -> None:
    swapped = np.full((64, 64, 3), 90, np.uint8)
    _, target = crops()
    matched = match_colors(swapped, target[:64, :64], np.ones((64, 64), np.float32))
    assert len(np.unique(matched.reshape(-1, 3), axis=0)) == 1


def test_the_transfer_is_applied_in_proportion_to_the_weights() -> None:
    swapped, target = crops()
    weights = crop_mask(128)
    matched = match_colors(swapped, target, weights)
    assert np.array_equal(matched[weights == 0], swapped[weights == 0])
    full = match_colors(swapped, target, np.ones((128, 128), np.float32))
    inside = weights > 0.999
    assert np.abs(matched[inside].astype(int) - full[inside].astype(int)).max() <= 1
