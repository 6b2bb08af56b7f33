"""Admission and slots: at most `concurrency` swaps at once, `queue` more waiting, the rest BUSY at once."""

from __future__ import annotations

import asyncio

from faceswap.errors import ErrorCode, SwapError

__all__ = ["BUSY_RETRY_AFTER", "Limiter", "busy"]

BUSY_RETRY_AFTER = 2


def busy() -> SwapError:
    """BUSY, with the seconds after which a retry is worth it."""
    return SwapError(
        ErrorCode.BUSY, "The worker is busy with other requests; retry shortly.", retry_after=BUSY_RETRY_AFTER
    )


class Limiter:
    """At most `concurrency` jobs at once and `queue` more admitted; beyond that, BUSY at once.

    Admission comes first, before any download, so a flood of requests costs neither bandwidth
    nor memory; slots are taken only for the blocking work. Call everything on the event loop.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._capacity = concurrency + queue
        self._queue = queue
        self.admitted = 0
        self.waiting = 0
        self.running = 0

    def admit(self) -> bool:
        """Count one more request in, or False when the worker is full."""
        if self.admitted >= self._capacity:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        """An admitted request is done."""
        self.admitted -= 1

    async def acquire(self) -> None:
        """Wait for a slot; BUSY when the queue is full (abandoned work can hold slots past its deadline)."""
        if self._slots.locked() and self.waiting >= self._queue:
            raise busy()
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        """Give a slot back (call on the event loop's thread)."""
        self.running -= 1
        self._slots.release()
