"""Reach simulations and RR sets on a Dask distributed cluster (optional extra ``dask``).

A :class:`DaskRunner` scatters the graph's kernel arrays to every worker of a
``distributed.Client`` once (``broadcast=True``), then runs each chunk as one task that
receives the scattered graph and the chunk's own small arguments. Chunk results do not depend
on where they run (:mod:`graph.reach.kernels`), so estimates, RR sets and plans are
bit-identical to the in-process ones. Pass it as ``processes=`` to
:func:`graph.reach.estimate.estimate_reach` or :func:`graph.reach.plan.plan_campaign`.

Workers must be able to import this package (install ``socialrec`` in the workers'
environment); each worker thread runs one chunk at a time and the kernels release the GIL.
``docs/scaling-out.md`` shows how to point it at a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernel_graph import KernelGraph, kernel_graph
from graph.reach.runners import ClosingRunner

if TYPE_CHECKING:
    from distributed import Client

_T = TypeVar("_T")
_R = TypeVar("_R")


class DaskRunner(ClosingRunner):
    """Chunks of kernel work as tasks on a Dask cluster; a :class:`~graph.reach.runners.Runner`
    for one graph. Close it (or use it as a context manager) to release the scattered graph;
    the client stays open (it belongs to the caller).

    Args:
        graph: The influence graph, with probabilities; the runner serves this object only.
        client: A connected ``distributed.Client``.
        workers: Chunks per call (default: the cluster's worker threads when the runner starts).

    Raises:
        ValueError: if ``workers`` is not an int >= 1, the cluster has no workers, or the graph
            has no probabilities.
    """

    def __init__(
        self, graph: InfluenceGraph, client: Client, *, workers: int | None = None
    ) -> None:
        if workers is None:
            workers = sum(client.nthreads().values())
            if workers < 1:
                raise ValueError("the Dask cluster has no workers; start some or pass workers=")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self._graph = graph
        self._client = client
        self._workers = workers
        self._kernel_graph: Any = client.scatter(kernel_graph(graph), broadcast=True, hash=False)

    @property
    def graph(self) -> InfluenceGraph:
        return self._graph

    @property
    def workers(self) -> int:
        return self._workers

    def map(self, fn: Callable[[KernelGraph, _T], _R], items: Sequence[_T]) -> list[_R]:
        """``[fn(kernel graph, item) for item in items]``, one task per item on the cluster."""
        futures = [self._client.submit(fn, self._kernel_graph, item, pure=False) for item in items]
        return list(self._client.gather(futures))

    def close(self) -> None:
        """Release the graph scattered to the workers."""
        self._client.cancel([self._kernel_graph])
