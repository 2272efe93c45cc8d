"""Runners: where chunks of kernel work run (threads of this process by default).

A chunk is a unit of simulation or RR-set work whose result depends only on its own arguments
(:mod:`graph.reach.kernels` explains why), so any :class:`Runner` gives bit-identical results.
:class:`ThreadRunner` runs chunks on threads here (the kernels release the GIL);
:class:`graph.reach.parallel.ProcessPool` on worker processes;
:class:`graph.reach.dask_runner.DaskRunner` on a Dask cluster.
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, TypeVar

import numpy as np

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernel_graph import KernelGraph, kernel_graph

_T = TypeVar("_T")
_R = TypeVar("_R")


def default_jobs() -> int:
    """Worker threads for the kernels: the CPUs available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class Runner(Protocol):
    """Runs chunks of kernel work for one graph on some workers (threads here, processes in
    :mod:`graph.reach.parallel`, a Dask cluster in :mod:`graph.reach.dask_runner`):
    ``map(fn, items)`` returns ``[fn(kernel graph, item) ...]`` in order, each ``fn`` a
    module-level function (:func:`graph.reach.simulate.simulate_chunk`,
    :func:`graph.reach.rr_sets.rr_chunk`)."""

    @property
    def graph(self) -> InfluenceGraph: ...

    @property
    def workers(self) -> int: ...

    def map(self, fn: Callable[[KernelGraph, _T], _R], items: Sequence[_T]) -> list[_R]: ...


class ClosingRunner(ABC):
    """A runner that holds workers or data elsewhere: :meth:`close` releases them, and the
    runner is a context manager that closes on exit."""

    @abstractmethod
    def close(self) -> None:
        """Release what the runner holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class ThreadRunner:
    """Chunks on ``workers`` threads of this process (the kernels release the GIL)."""

    graph: InfluenceGraph
    workers: int

    def map(self, fn: Callable[[KernelGraph, _T], _R], items: Sequence[_T]) -> list[_R]:
        kg = kernel_graph(self.graph)
        if len(items) <= 1:
            return [fn(kg, item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(lambda item: fn(kg, item), items))


def resolve_runner(graph: InfluenceGraph, jobs: int | None, runner: Runner | None) -> Runner:
    """``runner`` (checked to serve ``graph``), else threads: ``jobs`` or all available CPUs.

    Raises:
        ValueError: if ``runner`` was started for another graph object.
    """
    if runner is None:
        return ThreadRunner(graph, jobs or default_jobs())
    if runner.graph is not graph:
        raise ValueError(
            "the worker pool was started for another graph; start one for this graph (the same "
            "InfluenceGraph object, probabilities included)"
        )
    return runner


def chunk_ranges(total: int, workers: int) -> list[tuple[int, int]]:
    """``total`` indices split into at most ``workers`` contiguous, non-empty ranges."""
    workers = max(1, min(workers, total))
    bounds = np.linspace(0, total, workers + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
