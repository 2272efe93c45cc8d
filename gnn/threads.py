"""Thread counts from the CPUs this process may actually use, and OpenMP's wait policy.

torch sizes its intra-op pool from the machine's cores, which over-counts in a container
limited by a CPU quota or a process pinned to a few cores. And its OpenMP runtime (GNU
libgomp) spins for a while at every barrier by default: when another busy process holds a
core, the spinning threads burn the time slices the working thread needs, and an epoch of
many short parallel regions slows down several-fold (``benchmarks/lastfm.py``'s
``contended_sec_per_epoch``). :func:`passive_openmp` makes waiting threads sleep instead.

Importing this module does not import torch (:func:`passive_openmp` must run before torch
is first imported).
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

#: Where the cgroup file systems are mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs this process's cgroup may use per period (e.g. 1.5), or ``None`` if unlimited.

    Reads cgroup v2's ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) or, failing
    that, cgroup v1's ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us`` (quota -1 is
    unlimited). Missing or unreadable files mean no limit.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process can keep busy: its affinity mask, capped by the cgroup quota rounded
    down (a 1.5-CPU quota runs one thread at full speed, two at 75% each), at least 1."""
    affinity = getattr(os, "sched_getaffinity", None)  # not on macOS / Windows
    cpus = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    return max(1, cpus)


def default_threads(processes: int = 1, root: Path = CGROUP_ROOT) -> int:
    """torch intra-op threads for each of ``processes`` processes sharing this machine's
    :func:`available_cpus`, at least 1.

    Raises:
        ValueError: if ``processes`` is not positive.
    """
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    return max(1, available_cpus(root) // processes)


def passive_openmp(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Let idle OpenMP threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``) unless the
    environment already sets a policy. Call it before torch is first imported: the OpenMP
    runtime reads the variable once, when it is loaded.

    Returns:
        Whether it set the variable.
    """
    if "OMP_WAIT_POLICY" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
