"""Names shared across the service: ONNX Runtime's provider names, output formats, byte units."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["CPU_PROVIDER", "CUDA_PROVIDER", "GiB", "KiB", "MiB", "OutputFormat", "describe_size"]

CUDA_PROVIDER: Final = "CUDAExecutionProvider"
CPU_PROVIDER: Final = "CPUExecutionProvider"

OutputFormat = Literal["png", "jpeg", "webp"]

KiB: Final = 1 << 10
MiB: Final = 1 << 20
GiB: Final = 1 << 30

_UNITS: Final = ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB"))


def describe_size(size: float) -> str:
    """A byte count as a person would write it: whole units when exact, else MiB or GiB to one decimal."""
    whole = int(size)
    for unit, name in _UNITS:
        if whole >= unit and whole % unit == 0:
            return f"{whole // unit:,} {name}"
    for unit, name in _UNITS[:2]:
        if whole >= unit:
            return f"{whole / unit:,.1f} {name}"
    return f"{whole} bytes"
