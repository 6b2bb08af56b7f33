"""Recognising out-of-memory failures from ONNX Runtime and the allocator, whatever the provider."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["OOM_MARKERS", "is_out_of_memory", "release_free_heap"]

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


def release_free_heap() -> bool:
    """Hand the C heap's free memory back to the system (glibc ``malloc_trim``); False without glibc.

    Loading the models parses each file into protobuf copies that are freed but kept by the allocator:
    about 250 MB of resident memory with stand-ins of the real pack (bench), returned in milliseconds.
    """
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
