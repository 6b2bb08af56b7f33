"""What a swap will cost, in model runs, known once the faces are found: charged before the work is done.

One unit is one run of the 128-pixel swapper (about one detection pass). A face costs the swapper runs its
pixel boost implies, ``(pixel_boost / crop_size)²``, plus its masks' and its restoration's runs; a frame costs
one detection plus its faces; a clip, its frames times that. Requests over the limit are refused before
the first swap, and a job's deadline is its estimate in seconds (``deadline_seconds``, kept by
``faceswap.pipeline.deadline.Deadline``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.quality import Quality
from faceswap.pipeline.swappers import DEFAULT_SWAPPER, SWAPPERS
from faceswap.pipeline.swappers.base import DEFAULT_WEIGHT

__all__ = [
    "DETECT_RUNS",
    "ENHANCER_RUNS",
    "MASK_RUNS",
    "cost_of",
    "deadline_seconds",
    "estimate_cost",
    "refuse_over",
]

DETECT_RUNS: Final = 1
ENHANCER_RUNS: Final = 4
"""A 512-pixel restoration: about four 128-pixel swapper runs."""
MASK_RUNS: Final[dict[str, int]] = {"box": 0, "occlusion": 1, "region": 2}
"""The occluder runs on a 256-pixel crop, the face parser on 512."""


def estimate_cost(
    faces: int,
    pixel_boost: int,
    crop_size: int = 128,
    enhancer: bool = False,
    masks: Iterable[str] = (),
    frames: int = 1,
) -> int:
    """Model runs for `frames` frames of `faces` faces, swapped at `pixel_boost` by a `crop_size` swapper."""
    tiles = max(pixel_boost // crop_size, 1) ** 2
    per_face = tiles + (ENHANCER_RUNS if enhancer else 0) + sum(MASK_RUNS.get(mask, 1) for mask in set(masks))
    return frames * (DETECT_RUNS + faces * per_face)


def cost_of(quality: Quality, faces: int, frames: int = 1, swapper: str = DEFAULT_SWAPPER) -> int:
    """`estimate_cost` of swapping `faces` faces in each of `frames` frames with `quality`'s options, by
    `quality`'s swapper (else `swapper`, the deployment's): one unit per forward of the model at its own
    crop, and one more per face for each recognizer run that identity strength or the similarity report
    adds (the small converter runs are not counted)."""
    model = SWAPPERS[quality.swapper or swapper]
    masks = quality.face_mask.types if quality.face_mask is not None else ()
    enhancer = quality.face_enhancer is not None
    extra = (quality.swapper_weight != DEFAULT_WEIGHT and model.takes_identity) + quality.report_similarity
    boost = quality.pixel_boost or model.crop
    return estimate_cost(faces, boost, model.crop, enhancer, masks, frames) + frames * faces * extra


def refuse_over(cost: int, limit: int) -> None:
    """COST_LIMIT_EXCEEDED when `cost` is over `limit` (0: no limit), naming both and the setting."""
    if limit and cost > limit:
        raise SwapError(
            ErrorCode.COST_LIMIT_EXCEEDED,
            f"This request would take {cost} model runs, over the limit of {limit} "
            "(FACESWAP_MAX_REQUEST_COST); swap fewer faces or ask for a smaller pixel_boost, "
            "fewer masks or no face_enhancer.",
        )


def deadline_seconds(cost: int, seconds_per_run: float, floor: float, ceiling: float) -> float:
    """A deadline for work of `cost` runs: twice the runs at `seconds_per_run`, within [floor, ceiling]."""
    return min(max(2.0 * cost * seconds_per_run, floor), ceiling)
