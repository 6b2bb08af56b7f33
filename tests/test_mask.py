"""Face masks: FaceFusion's box, and the occluder's and parser's masks through their stand-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from faceswap.pipeline.blend import crop_mask
from faceswap.pipeline.mask import box_mask, combine_masks, occlusion_mask, region_mask
from faceswap.testing.optional import GRID, OCCLUDED_CELLS, PARSER_LABELS


@pytest.fixture(scope="module")
def sessions(model_dir: Path) -> dict[str, ort.InferenceSession]:
    return {
        name: ort.InferenceSession(
            str(model_dir / "masks" / f"{name}.onnx"), providers=["CPUExecutionProvider"]
        )
        for name in ("xseg_1", "bisenet_resnet_34")
    }


def test_the_default_box_mask_is_the_plain_swaps_paste_mask() -> None:
    for size in (128, 256, 512, 1024):
        assert np.array_equal(box_mask(size, 0.3, (0, 0, 0, 0)), crop_mask(size))


def test_the_box_masks_blur_widens_its_border_and_its_feather() -> None:
    mask = box_mask(512, 0.6, (0, 0, 0, 0))
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert mask[256, 256] == pytest.approx(1.0, abs=1e-3)
    assert mask[40, 256] < crop_mask(512)[40, 256]
    assert mask[0, 256] < 0.05 and 0.2 < mask[64, 256] < 0.8


def test_the_box_mask_padding_clears_that_percentage_of_each_side() -> None:
    mask = box_mask(400, 0.0, (10, 0, 25, 50))
    rows = np.nonzero(mask[:, 300])[0]
    cols = np.nonzero(mask[200])[0]
    assert (rows.min(), rows.max()) == (40, 299)
    assert (cols.min(), cols.max()) == (200, 398)


def test_masks_combine_by_intersection() -> None:
    first = np.array([[0.2, 1.0]], np.float32)
    second = np.array([[0.7, 0.4]], np.float32)
    assert np.array_equal(combine_masks([first, second]), np.array([[0.2, 0.4]], np.float32))


def test_the_occluder_clears_its_known_patch_and_keeps_the_rest(
    sessions: dict[str, ort.InferenceSession],
) -> None:
    crop = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    before = crop.copy()
    mask = occlusion_mask(sessions["xseg_1"], crop)
    assert np.array_equal(crop, before)
    cell = 512 // GRID
    x1, y1, x2, y2 = (value * cell for value in OCCLUDED_CELLS)
    assert mask.shape == (512, 512)
    assert mask[y1 + 16 : y2 - 16, x1 + 16 : x2 - 16].max() == 0.0
    assert mask[: y1 - 16].min() > 0.99


def test_the_parser_keeps_only_the_chosen_regions(sessions: dict[str, ort.InferenceSession]) -> None:
    crop = np.random.default_rng(2).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    cell = 256 // GRID
    ys, xs = np.nonzero(PARSER_LABELS == 10)
    nose = (int(ys.mean() * cell + cell // 2), int(xs.mean() * cell + cell // 2))
    with_nose = region_mask(sessions["bisenet_resnet_34"], crop, ["skin", "nose"])
    without_nose = region_mask(sessions["bisenet_resnet_34"], crop, ["skin"])
    assert with_nose[nose] == 1.0 and without_nose[nose] == 0.0
    assert with_nose[9 * cell + cell // 2, 3 * cell + cell // 2] == 1.0  # skin, beside the nose
    assert with_nose[:cell].max() == 0.0  # hair, never chosen
