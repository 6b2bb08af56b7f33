"""Admission and slots: at most `concurrency` swaps at once, `queue` more requests waiting, the rest BUSY.

Requests and jobs share the slots, requests first: a freed slot goes to the longest-waiting request, and
a job holding a slot gives it up at its next checkpoint (a frame, a pixel-boost tile, a model run) while a
request waits, then queues for it again. So a request waits behind a job for one model run, not for the
job. Jobs are not starved either: after JOB_TURN_EVERY slots in a row went to requests while a job
waited, the next one goes to the job.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from faceswap.errors import ErrorCode, SwapError

__all__ = ["BUSY_RETRY_AFTER", "JOB_TURN_EVERY", "Limiter", "Share", "Slot", "busy"]

BUSY_RETRY_AFTER = 2
SMOOTHING = 0.3
JOB_TURN_EVERY = 4
YIELD_SECONDS = 1.0
"""How soon a slot held by a job is expected back when a request waits: about one model run."""

Share = Literal["request", "job"]


def busy(retry_after: int = BUSY_RETRY_AFTER) -> SwapError:
    """BUSY, with the seconds after which a retry is worth it."""
    return SwapError(
        ErrorCode.BUSY, "The worker is busy with other requests; retry shortly.", retry_after=retry_after
    )


@dataclass
class Slot:
    """One held slot: whose, and since when."""

    share: Share
    taken: float


class Limiter:
    """At most `concurrency` swaps at once and `queue` more requests admitted; beyond that, BUSY at once.

    Admission comes first, before any download, so a flood of requests costs neither bandwidth
    nor memory; slots are taken only for the blocking work. Call everything on the event loop.
    It keeps a running mean of how long a request holds a slot, and which slots are held since when,
    so BUSY's Retry-After is the expected wait: slots held by jobs come back within about a second,
    those held by requests after their expected remaining time, then the requests ahead take theirs.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self._concurrency = concurrency
        self._capacity = concurrency + queue
        self._queue = queue
        self._free = concurrency
        self._held: list[Slot] = []
        self._waiters: dict[Share, deque[asyncio.Future[Slot]]] = {"request": deque(), "job": deque()}
        self._requests_in_a_row = 0
        self.mean_hold = float(BUSY_RETRY_AFTER)
        self.admitted = 0

    @property
    def running(self) -> int:
        """Slots held now."""
        return len(self._held)

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters["request"])

    @property
    def jobs_waiting(self) -> int:
        """Jobs waiting for a slot (each was given one up for a request, or has not had one yet)."""
        return len(self._waiters["job"])

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
        """Seconds until a new request is likely to get a slot: when each slot frees, then the queue ahead."""
        now = time.monotonic()
        frees = sorted(
            YIELD_SECONDS if slot.share == "job" else max(self.mean_hold - (now - slot.taken), 1.0)
            for slot in self._held
        )
        frees += [0.0] * self._free
        for _ in range(self.waiting):  # each request ahead takes the soonest slot for a mean hold
            frees[0] += self.mean_hold
            frees.sort()
        return max(1, math.ceil(frees[0] if frees else self.mean_hold))

    async def acquire(self, share: Share = "request") -> Slot:
        """Wait for a slot; BUSY when the request queue is full (abandoned work can hold slots past
        its deadline). Jobs are bounded by the job manager, never refused here."""
        if self._free and not self._waiters["request"] and (share == "request" or not self._waiters["job"]):
            return self._take(share)
        if share == "request" and self.waiting >= self._queue:
            raise busy(self.retry_after())
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiters[share].append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed a slot just as the wait was given up: pass it on
            else:
                self._waiters[share].remove(waiter)
            raise

    def release(self, slot: Slot) -> None:
        """Give `slot` back (call on the event loop's thread); the next waiter by the sharing rule gets it."""
        self._held.remove(slot)
        if slot.share == "request":
            self.mean_hold += SMOOTHING * (time.monotonic() - slot.taken - self.mean_hold)
        self._free += 1
        self._hand_on()

    async def yield_to_requests(self, slot: Slot) -> Slot:
        """A job's slot given to a waiting request, then waited for again; `slot` itself when none waits."""
        if not self._waiters["request"]:
            return slot
        self.release(slot)
        return await self.acquire("job")

    def _take(self, share: Share) -> Slot:
        self._free -= 1
        slot = Slot(share, time.monotonic())
        self._held.append(slot)
        return slot

    def _hand_on(self) -> None:
        while self._free:
            share = self._next_share()
            if share is None:
                return
            waiter = self._waiters[share].popleft()
            if waiter.done():
                continue
            self._requests_in_a_row = self._requests_in_a_row + 1 if share == "request" else 0
            waiter.set_result(self._take(share))

    def _next_share(self) -> Share | None:
        requests, jobs = self._waiters["request"], self._waiters["job"]
        if jobs and (not requests or self._requests_in_a_row >= JOB_TURN_EVERY):
            return "job"
        return "request" if requests else None
