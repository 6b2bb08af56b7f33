"""The memory a decode may use: estimated from the header before a pixel is allocated, and admitted.

An estimate counts every buffer the decode path holds at its peak: the decoder's own frame (Pillow keeps
three-band images in four bytes a pixel), the conversions to RGB and the BGR frame handed on, and for
progressive JPEGs libjpeg's coefficient buffers (two bytes per coefficient, at full size even when the
output is DCT-scaled). Over ``max_bytes`` the image is refused; above an eighth of it the decode waits
for one of ``max_large`` process-wide slots, so a few large images at once never add up past the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

__all__ = ["DecodeBudget", "DecodePlan", "peak_bytes"]

# Bytes a pixel at the peak of Pillow's path, by the mode the file decodes to: the decoder's frame, then
# what `_pillow_pixels` converts it through (alpha: RGBA, a white canvas, the composite, RGB), then BGR.
_PILLOW_PEAK: Final[dict[str, int]] = {
    "1": 1 + 1 + 3,
    "L": 1 + 1 + 3,
    "P": 1 + 4 + 3 + 3,
    "RGB": 4 + 3 + 3,
    "CMYK": 4 + 4 + 3 + 3,
    "YCbCr": 4 + 4 + 3 + 3,
    "I;16": 2 + 2 + 1 + 3,
    "I;16B": 2 + 2 + 1 + 3,
    "I;16L": 2 + 2 + 1 + 3,
    "I": 4 + 4 + 1 + 3,
}
_ALPHA_PEAK: Final = 4 + 4 + 4 + 4 + 4 + 3
_UNKNOWN_MODE_PEAK: Final = 4 + 4 + 4 + 3
_COEFFICIENT_BYTES: Final = 2


@dataclass(frozen=True, slots=True)
class DecodePlan:
    """What the header says about a decode: its full size, mode, and how it will be decoded."""

    size: tuple[int, int]
    mode: str
    alpha: bool = False
    fast: bool = False
    scale: int = 1
    progressive: bool = False
    components: int = 3


def peak_bytes(plan: DecodePlan) -> int:
    """The most memory the decode of `plan` holds at once, in bytes."""
    width, height = plan.size
    pixels = width * height
    if plan.fast:
        scaled = -(-width // plan.scale) * -(-height // plan.scale)
        peak = scaled * 3 * 2
    elif plan.alpha:
        peak = pixels * _ALPHA_PEAK
    else:
        peak = pixels * _PILLOW_PEAK.get(plan.mode, _UNKNOWN_MODE_PEAK)
    if plan.progressive:
        peak += pixels * _COEFFICIENT_BYTES * plan.components
    return peak


class DecodeBudget:
    """Refuses decodes over `max_bytes`; at most `max_large` decodes over an eighth of it run at once."""

    def __init__(self, max_bytes: int, max_large: int) -> None:
        self.max_bytes = max_bytes
        self.large_from = max_bytes // 8
        self._large = threading.BoundedSemaphore(max_large)

    def fits(self, plan: DecodePlan) -> bool:
        """Whether `plan` stays within the budget."""
        return peak_bytes(plan) <= self.max_bytes

    @contextmanager
    def admitted(self, plan: DecodePlan) -> Iterator[None]:
        """Hold a large-decode slot while a large decode runs (small ones pass at once)."""
        if peak_bytes(plan) < self.large_from:
            yield
            return
        with self._large:
            yield
