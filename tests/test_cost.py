import pytest

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.cost import cost_of, deadline_seconds, estimate_cost, refuse_over
from faceswap.pipeline.quality import Enhancer, FaceMask, Quality


def test_a_plain_swap_costs_a_detection_and_one_run() -> None:
    assert estimate_cost(1, 128) == 2


def test_pixel_boost_costs_its_tiles_per_face() -> None:
    assert estimate_cost(1, 512) - estimate_cost(1, 128) == 15
    assert estimate_cost(3, 256) == 1 + 3 * 4


def test_a_larger_swapper_crop_needs_fewer_tiles() -> None:
    assert estimate_cost(1, 512, crop_size=256) == 1 + 4


def test_masks_restoration_and_frames_add_up() -> None:
    quality = Quality(
        pixel_boost=512,
        face_enhancer=Enhancer("gfpgan_1.4"),
        face_mask=FaceMask(("box", "occlusion", "region")),
    )
    per_face = 16 + 4 + 1 + 2
    assert cost_of(quality, faces=36) == 1 + 36 * per_face
    assert cost_of(quality, faces=2, frames=10) == 10 * (1 + 2 * per_face)


def test_a_cost_over_the_limit_is_refused_naming_it() -> None:
    with pytest.raises(SwapError) as caught:
        refuse_over(829, 256)
    assert caught.value.code is ErrorCode.COST_LIMIT_EXCEEDED and caught.value.status == 422
    assert "256" in caught.value.message and "FACESWAP_MAX_REQUEST_COST" in caught.value.message
    refuse_over(256, 256)
    refuse_over(10**9, 0)


def test_a_deadline_follows_the_cost_within_its_bounds() -> None:
    assert deadline_seconds(100, 0.25, 90, 1800) == 90
    assert deadline_seconds(1000, 0.25, 90, 1800) == 500
    assert deadline_seconds(10**6, 0.25, 90, 1800) == 1800


def test_a_swappers_tiles_are_counted_at_its_own_crop_with_its_extra_recognizer_runs() -> None:
    assert cost_of(Quality(swapper="hyperswap_1a_256"), faces=1) == 1 + 1
    assert cost_of(Quality(swapper="hyperswap_1a_256", pixel_boost=1024), faces=1) == 1 + 16
    assert cost_of(Quality(pixel_boost=512), faces=1, swapper="simswap_unofficial_512") == 1 + 1
    assert cost_of(Quality(), faces=2, swapper="ghost_1_256") == 1 + 2
    weighted = Quality(swapper="ghost_1_256", swapper_weight=0.8, report_similarity=True)
    assert cost_of(weighted, faces=2) == 1 + 2 * (1 + 2)
    assert cost_of(Quality(swapper="uniface_256", swapper_weight=0.8), faces=1) == 1 + 1
