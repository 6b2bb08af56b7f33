"""The C heap: large allocations mapped on their own, and the trim looked up once."""

import ctypes.util
import subprocess
import sys

import pytest

from faceswap.runtime.memory import map_large_allocations, release_free_heap
from tests.servers import ROOT

# In a fresh process: glibc's threshold first rises to 24 MiB (a mapped 24 MiB block freed), then a 16 MiB
# buffer is allocated and freed; prints how many MiB of private memory that buffer leaves behind.
_HELD_AFTER_FREE = """
import sys
from pathlib import Path
import numpy as np
from faceswap.runtime.memory import map_large_allocations

def anonymous():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024

if sys.argv[1] == "mapped" and not map_large_allocations():
    print("unsupported")
    raise SystemExit
warm = np.ones(24 << 20, np.uint8)
del warm
before = anonymous()
buffer = np.ones(16 << 20, np.uint8)
del buffer
print(round(anonymous() - before, 1))
"""


def _held_after_free(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _HELD_AFTER_FREE, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_a_large_buffer_goes_back_to_the_system_as_it_is_freed() -> None:
    mapped = _held_after_free("mapped")
    if mapped == "unsupported":
        pytest.skip("not glibc")
    assert float(mapped) < 4
    assert float(_held_after_free("default")) >= 12  # what glibc alone keeps: the test can tell


def test_the_trim_spawns_no_process_after_its_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    assert map_large_allocations() in (True, False)
    release_free_heap()

    def forbidden(name: str) -> str:
        raise AssertionError(f"find_library({name!r}) ran again")

    monkeypatch.setattr(ctypes.util, "find_library", forbidden)
    release_free_heap()
    release_free_heap()
