"""CPUs the process may use: affinity capped by a cgroup v1 or v2 quota read from a fake cgroup tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import faceswap.models.loader
import faceswap.runtime.cpus
from faceswap.models.loader import session_options
from faceswap.runtime.cpus import cpu_quota, quota_bound_cpus, usable_cpus


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({}, None),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "400000 100000"}, 4),
        ({"cpu.max": "150000 100000"}, 1),  # --cpus=1.5: rounded down
        ({"cpu.max": "50000 100000"}, 1),  # half a CPU: never below one
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "0"}, None),
        ({"cpu.max": "garbage"}, None),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 2),
        ({"cpuacct,cpu/cpu.cfs_quota_us": "500000", "cpuacct,cpu/cpu.cfs_period_us": "100000"}, 5),
    ],
)
def test_the_quota_is_read_from_cgroup_v2_or_v1(
    tmp_path: Path, files: dict[str, str], quota: int | None
) -> None:
    assert cpu_quota(_tree(tmp_path, files)) == quota


def test_a_quota_caps_the_cpus_and_its_absence_leaves_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == affinity
    assert usable_cpus(_tree(tmp_path, {"cpu.max": "100000 100000"})) == 1
    assert usable_cpus(_tree(tmp_path, {"cpu.max": f"{(affinity + 8) * 100000} 100000"})) == affinity


def test_the_v2_quota_of_the_process_own_group_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faceswap.runtime.cpus, "_v2_group", lambda: "/kubepods/pod1/container")
    root = _tree(tmp_path, {"kubepods/pod1/container/cpu.max": "200000 100000", "cpu.max": "max 100000"})
    assert cpu_quota(root) == 2


def test_a_quota_binds_only_below_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert quota_bound_cpus(_tree(tmp_path, {"cpu.max": f"{affinity * 100000} 100000"})) is None
    if affinity > 1:
        assert quota_bound_cpus(_tree(tmp_path, {"cpu.max": "100000 100000"})) == 1


def test_onnx_runtime_threads_follow_a_binding_quota_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faceswap.models.loader, "quota_bound_cpus", lambda: 3)
    assert session_options(0).intra_op_num_threads == 3
    assert session_options(5).intra_op_num_threads == 5
    monkeypatch.setattr(faceswap.models.loader, "quota_bound_cpus", lambda: None)
    assert session_options(0).intra_op_num_threads == 0  # ONNX Runtime's own default: a thread per core
