"""Recognising out-of-memory failures from ONNX Runtime and the allocator, whatever the provider; what the
C allocator keeps of freed memory, and when it hands it back."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = [
    "MAPPED_ALLOCATION_BYTES",
    "OOM_MARKERS",
    "is_out_of_memory",
    "map_large_allocations",
    "release_free_heap",
]

MAPPED_ALLOCATION_BYTES = 1 << 20
"""Allocations of at least this many bytes get pages of their own (`map_large_allocations`)."""
_M_MMAP_THRESHOLD = -3

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
    trim = _libc_function("malloc_trim")
    return trim is not None and bool(trim(0))


def map_large_allocations(threshold: int = MAPPED_ALLOCATION_BYTES) -> bool:
    """Serve every C allocation of `threshold` bytes or more with pages of its own (glibc ``mallopt``
    ``M_MMAP_THRESHOLD``), which go back to the system the moment they are freed; False without glibc.

    glibc's own threshold rises to 32 MiB as large blocks are freed, after which the model runs' tensors
    (ONNX Runtime's CPU arena is off: each run allocates its buffers) land in the heap, and a run on one
    thread reuses little of what a run on another left: one request's detections held about 90 MB there
    until the next trim, on top of the swapper's buffers. Mapped, the peak during a request is what is
    live at once (bench: 144 to 75 MB above the memory between requests, stand-ins, 1024 px). The cost
    is a page fault per page of each large buffer on each run (docs/performance-notes.md).
    """
    mallopt = _libc_function("mallopt")
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, threshold))


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function, looked up once: ``find_library`` runs ``ldconfig -p`` in a child process (about
    9 ms of a loaded machine's time, twice per request when it was looked up at every call)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
