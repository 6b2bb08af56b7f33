"""Fault injection for tests: ``FACESWAP_FAILPOINTS=swap_oom:2,slow_swap:1.5``.

Counted failpoints fire on their next N hits, then are spent:
``swap_oom``, ``detect_oom`` (raise ONNX Runtime's CUDA allocation failure), ``fetch_reset``
(the download's connection is reset), ``load_fail`` (model loading fails), ``crash`` (the swap
raises an unexpected error), ``disk_full`` (writing a clip's next swapped frame finds no space left, ENOSPC).
Delay failpoints apply to every hit: ``slow_swap:SECONDS``.
"""

from __future__ import annotations

import threading
import time

from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

__all__ = ["COUNTED", "DELAYS", "Failpoints", "allocation_failure"]

COUNTED = frozenset({"swap_oom", "detect_oom", "fetch_reset", "load_fail", "crash", "disk_full"})
DELAYS = frozenset({"slow_swap"})


def allocation_failure(node: str) -> RuntimeException:
    """The exception ONNX Runtime raises when the CUDA allocator cannot serve a request."""
    return RuntimeException(
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running "
        f"{node} node. Name:'{node}_0' Status Message: Failed to allocate memory for requested buffer "
        "of size 268435456"
    )


class Failpoints:
    """Thread-safe failpoint state parsed from a spec string; an empty spec never fires."""

    def __init__(self, spec: str = "") -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._delays: dict[str, float] = {}
        self.configure(spec)

    def configure(self, spec: str) -> None:
        """Replace the state with `spec` (``name:value`` items, comma-separated)."""
        counts: dict[str, int] = {}
        delays: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = item.partition(":")
            if name in COUNTED:
                counts[name] = int(value or 1)
            elif name in DELAYS:
                delays[name] = float(value or 1)
            else:
                raise ValueError(f"unknown failpoint {name!r}; known: {sorted(COUNTED | DELAYS)}")
        with self._lock:
            self._counts, self._delays = counts, delays

    @property
    def active(self) -> bool:
        """Whether any failpoint is armed."""
        with self._lock:
            return any(self._counts.values()) or bool(self._delays)

    def hit(self, name: str) -> bool:
        """Consume one firing of counted failpoint `name`; True when it fires."""
        with self._lock:
            remaining = self._counts.get(name, 0)
            if remaining <= 0:
                return False
            self._counts[name] = remaining - 1
            return True

    def delay(self, name: str) -> None:
        """Sleep for delay failpoint `name`, if armed."""
        with self._lock:
            seconds = self._delays.get(name, 0.0)
        if seconds > 0:
            time.sleep(seconds)

    def describe(self) -> dict[str, float]:
        """The armed failpoints and what is left of each."""
        with self._lock:
            return {**{k: float(v) for k, v in self._counts.items() if v > 0}, **self._delays}
