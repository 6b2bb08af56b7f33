"""Exponential backoff: the pauses between retries, doubling from the first, never above a cap."""

from __future__ import annotations

import math
from collections.abc import Iterator

__all__ = ["backoff_delays"]


def backoff_delays(first: float, cap: float = math.inf) -> Iterator[float]:
    """The pause before each retry in turn: `first`, then twice the one before, at most `cap`; endless."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * 2, cap)
