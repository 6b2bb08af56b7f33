"""Recognising out-of-memory failures from ONNX Runtime and the allocator, whatever the provider."""

from __future__ import annotations

__all__ = ["OOM_MARKERS", "is_out_of_memory"]

OOM_MARKERS = (
    "failed to allocate memory",
    "out of memory",
    "cublas_status_alloc_failed",
    "cudnn_status_alloc_failed",
    "cudnn_status_not_enough_workspace",
    "bad_alloc",
    "cudaerrormemoryallocation",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """True when `exc` is an allocation failure (CUDA or CPU) rather than a bug or bad input."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in OOM_MARKERS)
