"""Reach simulations and RR sets on worker processes, identical to the in-process results.

Work is split into chunks (:class:`~graph.reach.simulate.SimulationChunk`: a seed set, a range
of world indices, the base seed, the model; :class:`~graph.reach.rr_sets.RRChunk` likewise for
RR sets). Every random draw of world ``i`` comes from a stream keyed by ``(seed, i)`` only, and
per-world outputs are merged in world order with integer sums, so any split on any workers
gives bit-identical estimates and plans.

A :class:`ProcessPool` starts its workers (``spawn`` by default: safe with threads in the
parent) and ships the graph's kernel arrays to each one once, through the pool initializer;
each chunk then carries only its own small arguments. Pass a pool (or a process count) as
``processes=`` to :func:`graph.reach.estimate.estimate_reach` or
:func:`graph.reach.plan.plan_campaign`. Any :class:`~graph.reach.runners.Runner` can be
passed the same way, e.g. :class:`~graph.reach.dask_runner.DaskRunner` for a Dask cluster.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernel_graph import KernelGraph, kernel_graph
from graph.reach.runners import ClosingRunner, Runner

_T = TypeVar("_T")
_R = TypeVar("_R")

#: The graph a worker process serves (set once by the pool initializer).
_worker_graph: KernelGraph | None = None


def _start_worker(kg: KernelGraph) -> None:
    global _worker_graph
    _worker_graph = kg


def _run(fn: Callable[[KernelGraph, _T], _R], item: _T) -> _R:
    if _worker_graph is None:
        raise RuntimeError("this process is not a reach worker (no graph was shipped to it)")
    return fn(_worker_graph, item)


class ProcessPool(ClosingRunner):
    """Worker processes holding one graph's kernel arrays; a
    :class:`~graph.reach.runners.Runner` (one chunk per process). Close it (or use it as a
    context manager) to stop the workers.

    Args:
        graph: The influence graph, with probabilities; the pool serves this object only.
        processes: Number of worker processes (>= 1); each runs its chunk on one thread.
        start_method: ``"spawn"`` (default) or ``"forkserver"`` (``"fork"`` is unsafe when the
            parent runs threads).

    Raises:
        ValueError: on a bad ``processes`` or ``start_method``, or a graph without
            probabilities.
    """

    def __init__(
        self, graph: InfluenceGraph, processes: int, *, start_method: str = "spawn"
    ) -> None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be an int >= 1, got {processes!r}")
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be 'spawn' or 'forkserver', got {start_method!r}")
        self._graph = graph
        self._workers = processes
        self._executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context(start_method),
            initializer=_start_worker,
            initargs=(kernel_graph(graph),),
        )

    @property
    def graph(self) -> InfluenceGraph:
        return self._graph

    @property
    def workers(self) -> int:
        return self._workers

    def map(self, fn: Callable[[KernelGraph, _T], _R], items: Sequence[_T]) -> list[_R]:
        """``[fn(kernel graph, item) for item in items]``, computed on the workers."""
        return list(self._executor.map(partial(_run, fn), items))

    def close(self) -> None:
        """Stop the workers (waits for running chunks)."""
        self._executor.shutdown()


@contextmanager
def process_pool(graph: InfluenceGraph, processes: int | Runner | None) -> Iterator[Runner | None]:
    """For a count, a :class:`ProcessPool` for ``graph`` that lives for the ``with`` block;
    otherwise ``processes`` itself (a started runner, or ``None``)."""
    if isinstance(processes, int):
        with ProcessPool(graph, processes) as pool:  # rejects bools and counts < 1
            yield pool
        return
    if processes is not None and not callable(getattr(processes, "map", None)):
        raise ValueError(f"processes must be an int >= 1, a Runner or None, got {processes!r}")
    yield processes
