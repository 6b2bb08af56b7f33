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

__all__ = ["CGROUP_ROOT", "cpu_quota", "quota_bound_cpus", "usable_cpus"]

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may run on, capped by its cgroup's CPU quota; at least 1."""
    return quota_bound_cpus(root) or _affinity()


def quota_bound_cpus(root: Path = CGROUP_ROOT) -> int | None:
    """The CPU count when a quota allows fewer CPUs than the process may run on, else None."""
    quota = cpu_quota(root)
    return quota if quota is not None and quota < _affinity() else None


def cpu_quota(root: Path = CGROUP_ROOT) -> int | None:
    """Whole CPUs the cgroup quota allows (rounded down, at least 1), or None when there is no quota.

    cgroup v2: the tightest ``cpu.max`` from the process's own group up to the root; v1: the ``cpu``
    controller's quota, wherever it is mounted (``cpu``, ``cpu,cpuacct`` or ``cpuacct,cpu``).
    """
    limits = [quota // period for quota, period in (*_v2_limits(root), *_v1_limits(root)) if period]
    return max(1, min(limits)) if limits else None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _v2_limits(root: Path) -> list[tuple[int, int]]:
    group = Path(_v2_group().lstrip("/"))
    folders = [root / group, *(root / parent for parent in group.parents)]
    limits = []
    for folder in dict.fromkeys(folders):
        fields = _read(folder / "cpu.max").split()
        if len(fields) == 2 and (quota := _number(fields[0])) is not None and (period := _number(fields[1])):
            limits.append((quota, period))
    return limits


def _v1_limits(root: Path) -> list[tuple[int, int]]:
    limits = []
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _number(_read(root / name / "cpu.cfs_quota_us"))  # -1, no quota, is not a number here
        period = _number(_read(root / name / "cpu.cfs_period_us"))
        if quota and period:
            limits.append((quota, period))
    return limits


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
