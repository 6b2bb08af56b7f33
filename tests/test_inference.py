"""The swapper forward through IO binding gives what a plain session.run gives."""

from __future__ import annotations

import numpy as np

from faceswap.pipeline.embed import identity_latent
from faceswap.pipeline.swap import shrink_arena_options, swap_crop


def test_io_binding_matches_a_plain_run(models) -> None:
    swapper = models.swapper
    rng = np.random.default_rng(11)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    embedding = rng.standard_normal(512).astype(np.float32)
    latent = identity_latent(embedding / np.linalg.norm(embedding), swapper.emap)
    blob = (crop[:, :, ::-1].transpose(2, 0, 1)[None] / 255.0).astype(np.float32)
    (plain,) = swapper.session.run(None, {swapper.input_names[0]: blob, swapper.input_names[1]: latent})
    expected = np.rint(np.clip(plain[0].transpose(1, 2, 0) * 255.0, 0, 255))[:, :, ::-1].astype(np.uint8)
    np.testing.assert_array_equal(swap_crop(swapper.session, swapper.input_names, crop, latent), expected)


def test_arena_shrinking_run_options_are_accepted(models) -> None:
    swapper = models.swapper
    crop = np.full((128, 128, 3), 128, np.uint8)
    latent = identity_latent(np.eye(512, dtype=np.float32)[0], swapper.emap)
    options = shrink_arena_options(models.providers)
    assert swap_crop(swapper.session, swapper.input_names, crop, latent, options).shape == (128, 128, 3)
