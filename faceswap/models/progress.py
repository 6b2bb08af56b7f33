"""How a download shows its progress: a bar on a terminal, a plain line every 10 % in a log."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import IO, Protocol

from tqdm import tqdm

from faceswap.constants import describe_size

__all__ = ["DownloadProgress", "download_progress"]

log = logging.getLogger(__name__)

TENTHS = 10


class DownloadProgress(Protocol):
    """Told of each chunk as it is written, and when the file is done."""

    def advance(self, size: int) -> None: ...

    def close(self) -> None: ...


class _Bar:
    """tqdm's bar: bytes, rate and time left, redrawn in place."""

    def __init__(self, label: str, offset: int, total: int | None, stream: IO[str]) -> None:
        self._bar = tqdm(
            total=total,
            initial=offset,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=stream,
            leave=True,
        )

    def advance(self, size: int) -> None:
        self._bar.update(size)

    def close(self) -> None:
        self._bar.close()


class _Lines:
    """One log line per tenth of the file, with the rate since the start and the time left."""

    def __init__(
        self, label: str, offset: int, total: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._label, self._total = label, total
        self._start_bytes, self._received = offset, offset
        self._clock = clock
        self._started = self._clock()
        self._next_tenth = offset * TENTHS // total + 1 if total else TENTHS + 1

    def advance(self, size: int) -> None:
        self._received += size
        if not self._total or self._received * TENTHS < self._next_tenth * self._total:
            return
        self._next_tenth = self._received * TENTHS // self._total + 1
        elapsed = max(self._clock() - self._started, 1e-6)
        rate = (self._received - self._start_bytes) / elapsed
        left = (self._total - self._received) / rate if rate > 0 else float("inf")
        log.info(
            "%s: %d%% of %s, %s/s, %s left",
            self._label,
            int(100 * self._received / self._total),
            describe_size(self._total),
            describe_size(int(rate)),
            _duration(left),
        )

    def close(self) -> None:
        return None


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown time"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def download_progress(
    label: str, offset: int, total: int | None, stream: IO[str] | None = None
) -> DownloadProgress:
    """A bar when `stream` (stderr by default) is a terminal, else a log line every 10 %."""
    stream = stream or sys.stderr
    if stream.isatty():
        return _Bar(label, offset, total, stream)
    return _Lines(label, offset, total)
