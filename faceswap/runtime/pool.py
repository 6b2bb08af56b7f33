"""One process-wide pool of threads for CPU work that releases the GIL (image codecs, deflate).

Sized to the CPUs the process may use (`faceswap.runtime.cpus`). Work handed to it never waits on other
work in it, so a full pool only queues. Once the interpreter has begun to exit no new work is accepted: every
call here then runs on the caller's thread instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from faceswap.runtime.cpus import usable_cpus

__all__ = ["run_all", "start"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def start(call: Callable[[], T]) -> Future[T]:
    """`call` under way on the pool; done already when the pool takes no more work."""
    try:
        return _executor().submit(call)
    except RuntimeError:  # the interpreter is exiting: no new threads
        return _done(call)


def run_all(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Every call's result, in order: the first on this thread, the others on the pool meanwhile."""
    pending = [start(call) for call in calls[1:]]
    first = [calls[0]()] if calls else []
    return [*first, *(future.result() for future in pending)]


def _done(call: Callable[[], T]) -> Future[T]:
    future: Future[T] = Future()
    try:
        future.set_result(call())
    except BaseException as exc:  # delivered by result(), as the pool would
        future.set_exception(exc)
    return future


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=usable_cpus(), thread_name_prefix="faceswap-cpu")
        return _pool
