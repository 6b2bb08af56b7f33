"""When a swap must stop: at its ceiling, or sooner once its cost is known.

A request's deadline is fixed (``FACESWAP_REQUEST_TIMEOUT``). A job's starts at ``FACESWAP_JOB_TIMEOUT``
and is brought forward once its cost is charged (after a photo's detection, after a clip's first frame):
twice its estimated model runs at ``FACESWAP_SECONDS_PER_RUN`` from then, never less than a request gets.
The time a job lends its slot to waiting requests is not counted against its estimate, only against the
ceiling. Checkpoints read it before every model run, so a job over its estimate stops within one run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from faceswap.config import Settings
from faceswap.constants import CUDA_PROVIDER
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.cost import deadline_seconds

__all__ = ["CPU_SECONDS_PER_RUN", "CUDA_SECONDS_PER_RUN", "Deadline", "seconds_per_run"]

CPU_SECONDS_PER_RUN: Final = 3.0
"""A 128-pixel inswapper forward of the real models takes 1.5-2 s on two CPU cores, a detection as much;
the larger swappers' forwards count one run each but take longer."""
CUDA_SECONDS_PER_RUN: Final = 0.25
"""A run takes milliseconds on a GPU; a clip frame's decode, watermark and encode (on the CPU) are not
counted as runs, so each run carries their share."""


def seconds_per_run(settings: Settings, providers: Sequence[str]) -> float:
    """`FACESWAP_SECONDS_PER_RUN`, or when unset the default of the provider the models run on."""
    if settings.seconds_per_run is not None:
        return settings.seconds_per_run
    on_gpu = bool(providers) and providers[0] == CUDA_PROVIDER
    return CUDA_SECONDS_PER_RUN if on_gpu else CPU_SECONDS_PER_RUN


class Deadline:
    """A moving deadline on the monotonic clock; `passed` is read by the checkpoints, `charge` from the work.

    Without `per_run` (a request's) charging records the cost and moves nothing.
    """

    def __init__(self, seconds: float, *, per_run: float | None = None, floor: float = 0.0) -> None:
        self.ceiling_seconds = seconds
        self.per_run = per_run
        self.floor = floor
        self.cost = 0
        self._ceiling = time.monotonic() + seconds
        self._charged_at: float | None = None
        self._lent = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_request(cls, settings: Settings) -> Deadline:
        """`FACESWAP_REQUEST_TIMEOUT` from now."""
        return cls(settings.request_timeout)

    @classmethod
    def for_job(cls, settings: Settings, providers: Sequence[str]) -> Deadline:
        """`FACESWAP_JOB_TIMEOUT` from now, brought forward by `charge` to the job's cost in seconds on
        `providers` (never below `FACESWAP_REQUEST_TIMEOUT`)."""
        return cls(
            settings.job_timeout, per_run=seconds_per_run(settings, providers), floor=settings.request_timeout
        )

    def charge(self, cost: int) -> None:
        """The work will take `cost` model runs in all: the deadline is its estimate from the first charge.

        A later, larger charge (a clip whose frames show more faces) raises the estimate; a smaller one
        leaves it.
        """
        with self._lock:
            if self._charged_at is None:
                self._charged_at = time.monotonic()
            self.cost = max(self.cost, cost)

    @contextmanager
    def lent(self) -> Iterator[None]:
        """Time spent inside is not counted against the estimate (the slot was lent to a request); time
        lent before the charge is not added to it, since the estimate only starts at the charge."""
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                if self._charged_at is not None:
                    self._lent += max(0.0, time.monotonic() - max(started, self._charged_at))

    @property
    def estimate_seconds(self) -> float | None:
        """Seconds the charged cost allows (None before a charge, or for a request)."""
        if self.per_run is None or self._charged_at is None:
            return None
        return deadline_seconds(self.cost, self.per_run, self.floor, self.ceiling_seconds)

    def _estimate_due(self) -> float | None:
        seconds = self.estimate_seconds
        if seconds is None or self._charged_at is None:
            return None
        return self._charged_at + self._lent + seconds

    @property
    def due(self) -> float:
        """The monotonic time the work must stop at, as things stand."""
        with self._lock:
            estimate = self._estimate_due()
        return self._ceiling if estimate is None else min(estimate, self._ceiling)

    @property
    def passed(self) -> bool:
        """Whether the deadline is behind us."""
        return time.monotonic() > self.due

    def timeout(self) -> SwapError:
        """The TIMEOUT that stops the work, naming the setting to raise."""
        if self.per_run is None:
            return SwapError(ErrorCode.TIMEOUT, "The request ran out of time and was stopped.")
        with self._lock:
            estimate = self._estimate_due()
        if estimate is not None and estimate < self._ceiling:
            return SwapError(
                ErrorCode.TIMEOUT,
                f"The job ran past its deadline of {self.estimate_seconds:g} seconds (twice its "
                f"{self.cost} model runs at FACESWAP_SECONDS_PER_RUN={self.per_run:g}, at least "
                "FACESWAP_REQUEST_TIMEOUT) and was stopped; on a slower machine raise "
                "FACESWAP_SECONDS_PER_RUN.",
            )
        return SwapError(
            ErrorCode.TIMEOUT,
            f"The job ran past FACESWAP_JOB_TIMEOUT ({self.ceiling_seconds:g} seconds) and was stopped; "
            "raise FACESWAP_JOB_TIMEOUT for longer work.",
        )
