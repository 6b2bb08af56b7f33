"""How many CPUs this process may really use: its affinity, capped by the container's CPU quota.

A container started with ``--cpus=4`` on a 64-core host still sees 64 cores; a thread per core there
exhausts the quota within each scheduling period and the whole container stalls for the rest of it.
The quota is read from cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``)
and rounded down, never below one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["CGROUP_ROOT", "cpu_quota", "usable_cpus"]

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may run on, capped by its cgroup's CPU quota; at least 1."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
    quota = cpu_quota(root)
    return max(1, min(affinity, quota) if quota is not None else affinity)


def cpu_quota(root: Path = CGROUP_ROOT) -> int | None:
    """Whole CPUs the cgroup quota allows (rounded down, at least 1), or None when there is no quota."""
    for quota, period in (_v2_limit(root), _v1_limit(root)):
        if quota is not None and period:
            return max(1, quota // period)
    return None


def _v2_limit(root: Path) -> tuple[int | None, int | None]:
    for folder in (root / _v2_group().lstrip("/"), root):
        fields = _read(folder / "cpu.max").split()
        if len(fields) == 2:
            return _number(fields[0]), _number(fields[1])
    return None, None


def _v1_limit(root: Path) -> tuple[int | None, int | None]:
    quota = _number(_read(root / "cpu" / "cpu.cfs_quota_us"))  # -1, no quota, is not a number here
    return quota or None, _number(_read(root / "cpu" / "cpu.cfs_period_us"))


def _v2_group() -> str:
    """This process's cgroup v2 path ("0::/path" in /proc/self/cgroup), or "" outside one."""
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None
