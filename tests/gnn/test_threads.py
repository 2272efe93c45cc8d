"""Thread counts from the affinity mask and the cgroup CPU quota; OpenMP's wait policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gnn.threads import available_cpus, cgroup_cpu_quota, default_threads, passive_openmp

AFFINITY = len(os.sched_getaffinity(0))


def _v2(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(text)
    return root


def _v1(root: Path, quota: int, period: int = 100000) -> Path:
    (root / "cpu").mkdir(parents=True, exist_ok=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(
    ("text", "quota"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("400000 100000\n", 4.0)],
)
def test_cgroup_v2_quota(tmp_path: Path, text: str, quota: float | None) -> None:
    assert cgroup_cpu_quota(_v2(tmp_path, text)) == quota


@pytest.mark.parametrize(("quota_us", "quota"), [(-1, None), (50000, 0.5), (300000, 3.0)])
def test_cgroup_v1_quota(tmp_path: Path, quota_us: int, quota: float | None) -> None:
    assert cgroup_cpu_quota(_v1(tmp_path, quota_us)) == quota


def test_no_cgroup_files_is_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    assert available_cpus(tmp_path) == AFFINITY


def test_quota_caps_the_affinity_rounded_down(tmp_path: Path) -> None:
    assert available_cpus(_v2(tmp_path / "half", "50000 100000")) == 1  # never below one
    assert available_cpus(_v2(tmp_path / "big", "6400000 100000")) == AFFINITY
    one_and_half = _v1(tmp_path / "v1", 150000)
    assert available_cpus(one_and_half) == 1
    assert default_threads(1, one_and_half) == 1


def test_default_threads_share_the_cpus(tmp_path: Path) -> None:
    assert default_threads(1, tmp_path) == AFFINITY
    assert default_threads(AFFINITY, tmp_path) == 1
    assert default_threads(AFFINITY * 4, tmp_path) == 1
    with pytest.raises(ValueError, match="processes"):
        default_threads(0, tmp_path)


def test_passive_openmp_keeps_an_explicit_policy() -> None:
    environ: dict[str, str] = {}
    assert passive_openmp(environ) is True
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    chosen = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert passive_openmp(chosen) is False
    assert chosen == {"OMP_WAIT_POLICY": "ACTIVE"}
