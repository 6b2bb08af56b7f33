"""Admission and slots: at most `concurrency` swaps at once, `queue` more waiting, the rest BUSY at once."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from faceswap.errors import ErrorCode, SwapError

__all__ = ["BUSY_RETRY_AFTER", "Limiter", "busy"]

BUSY_RETRY_AFTER = 2
SMOOTHING = 0.3


def busy(retry_after: int = BUSY_RETRY_AFTER) -> SwapError:
    """BUSY, with the seconds after which a retry is worth it."""
    return SwapError(
        ErrorCode.BUSY, "The worker is busy with other requests; retry shortly.", retry_after=retry_after
    )


class Limiter:
    """At most `concurrency` jobs at once and `queue` more admitted; beyond that, BUSY at once.

    Admission comes first, before any download, so a flood of requests costs neither bandwidth
    nor memory; slots are taken only for the blocking work. Call everything on the event loop.
    It keeps a running mean of how long a slot is held, and when each held slot was taken, so
    BUSY can say when a slot is likely to free (a timed-out job still holds its slot until its thread ends).
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._capacity = concurrency + queue
        self._queue = queue
        self._taken: deque[float] = deque()
        self.mean_hold = float(BUSY_RETRY_AFTER)
        self.admitted = 0
        self.waiting = 0

    @property
    def running(self) -> int:
        """Slots held now: one taken time per slot."""
        return len(self._taken)

    def admit(self) -> bool:
        """Count one more request in, or False when the worker is full."""
        if self.admitted >= self._capacity:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        """An admitted request is done."""
        self.admitted -= 1

    def retry_after(self) -> int:
        """Seconds until a retry is likely to be admitted: the next slot to free, then the queue ahead."""
        now = time.monotonic()
        soonest = min((max(self.mean_hold - (now - taken), 1.0) for taken in self._taken), default=0.0)
        ahead = max(self.admitted - self.running, 0) * self.mean_hold / self._concurrency
        return max(1, math.ceil(soonest + ahead))

    async def acquire(self) -> None:
        """Wait for a slot; BUSY when the queue is full (abandoned work can hold slots past its deadline)."""
        if self._slots.locked() and self.waiting >= self._queue:
            raise busy(self.retry_after())
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self._taken.append(time.monotonic())

    def release(self) -> None:
        """Give a slot back (call on the event loop's thread)."""
        held = time.monotonic() - self._taken.popleft()
        self.mean_hold += SMOOTHING * (held - self.mean_hold)
        self._slots.release()
