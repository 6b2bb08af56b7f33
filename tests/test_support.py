import threading

import pytest

from faceswap.runtime.cache import LruCache, content_key
from faceswap.runtime.failpoints import Failpoints, allocation_failure
from faceswap.runtime.memory import is_out_of_memory


def test_lru_evicts_the_least_recently_used() -> None:
    cache: LruCache[int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses) == (3, 1)


def test_lru_membership_neither_counts_nor_refreshes() -> None:
    cache: LruCache[int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache and "z" not in cache
    cache.put("c", 3)  # "a" was only looked at, so it is still the least recently used
    assert "a" not in cache and "b" in cache
    assert (cache.hits, cache.misses) == (0, 0)


def test_lru_of_capacity_zero_keeps_nothing() -> None:
    cache: LruCache[int] = LruCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0


def test_content_key_depends_on_content_only() -> None:
    assert content_key(b"abc") == content_key(b"ab" + b"c") != content_key(b"abd")


def test_counted_failpoint_fires_n_times_across_threads() -> None:
    failpoints = Failpoints("swap_oom:5")
    fired: list[bool] = []
    threads = [threading.Thread(target=lambda: fired.append(failpoints.hit("swap_oom"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fired.count(True) == 5
    assert not failpoints.active


def test_unknown_failpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown failpoint"):
        Failpoints("cosmic_ray:1")


def test_empty_spec_never_fires() -> None:
    failpoints = Failpoints("")
    assert not failpoints.hit("swap_oom") and not failpoints.active


@pytest.mark.parametrize(
    "message",
    [
        "Failed to allocate memory for requested buffer of size 1024",
        "CUDA failure 2: out of memory ; GPU=0",
        "CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED",
        "std::bad_alloc",
    ],
)
def test_allocation_failures_are_recognised(message: str) -> None:
    assert is_out_of_memory(RuntimeError(message))


def test_memory_error_and_injected_failure_are_out_of_memory() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(allocation_failure("Conv"))


def test_other_errors_are_not_out_of_memory() -> None:
    assert not is_out_of_memory(RuntimeError("Invalid input name: foo"))
