"""The influence graph as the kernels read it: rows of 8-byte edge records, relabelled nodes.

:func:`kernel_graph` builds (and caches on the graph object) both directions of the graph,
nodes relabelled by decreasing in-degree, each row sorted by decreasing probability and given
its sampling mode (:func:`row_modes`). This is what a runner ships to its workers once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernels import SCAN_EDGE_P, SKIP, RowPtr

#: Cost of one geometric-skip step (a draw and a logarithm), in per-edge Bernoulli tests.
_SKIP_STEP_COST = 12.0


@dataclass(frozen=True)
class Rows:
    """One direction of the graph as the kernels read it.

    Row ``u`` is ``rec[ptr[u]:ptr[u + 1]]``, sorted by decreasing probability; each edge is one
    8-byte record ``(neighbour, p)`` (``rec_p`` is the float32 view of ``rec``, so ``p`` is
    ``rec_p[j, 1]``). ``inv_log[j] = 1 / log(1 - p)`` serves geometric skipping. ``row_p[u]``
    says how row ``u`` is sampled: ``SKIP`` by geometric skipping, otherwise by a Bernoulli
    test per edge (where that is cheaper), with the row's one probability when all its edges
    share it (``row_p[u] >= 0``; e.g. uniform p), else ``SCAN_EDGE_P`` (the edges' own).
    ``ptr`` is int32 when the edges fit, to halve its cache footprint.
    """

    ptr: RowPtr
    rec: NDArray[np.int32]
    rec_p: NDArray[np.float32]
    inv_log: NDArray[np.float32]
    row_p: NDArray[np.float32]

    @property
    def scan(self) -> NDArray[np.uint8]:
        """1 for rows sampled by a test per edge, 0 for geometric skipping."""
        return (self.row_p != SKIP).astype(np.uint8)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle ``rec`` once and rebuild ``rec_p`` as its view (for worker processes)."""
        return (_rows_from, (self.ptr, self.rec, self.inv_log, self.row_p))


def _rows_from(
    ptr: RowPtr, rec: NDArray[np.int32], inv_log: NDArray[np.float32], row_p: NDArray[np.float32]
) -> Rows:
    return Rows(ptr=ptr, rec=rec, rec_p=rec.view(np.float32), inv_log=inv_log, row_p=row_p)


@dataclass(frozen=True)
class KernelGraph:
    """The graph as the kernels read it: nodes relabelled by decreasing in-degree
    (``perm[new] = old``, ``inv[old] = new``) so the accounts most often reached sit together
    in memory; ``out`` and ``into`` are the out- and in-edge rows, and ``in_cum`` the per-row
    cumulative incoming weights for LT."""

    perm: NDArray[np.int64]
    inv: NDArray[np.int64]
    out: Rows
    into: Rows
    in_cum: NDArray[np.float64]


def row_modes(ptr: NDArray[np.int64], prob: NDArray[np.float32]) -> NDArray[np.float32]:
    """:attr:`Rows.row_p` of rows sorted by decreasing probability: a test per edge where it
    costs less than geometric skipping, which takes one step per live edge plus one, about
    twice as many when the row's probabilities differ (thinning), a step costing
    ``_SKIP_STEP_COST`` per-edge tests.
    """
    deg = np.diff(ptr)
    rows = np.flatnonzero(deg)
    first, last = prob[ptr[rows]], prob[ptr[rows + 1] - 1]
    live = np.add.reduceat(prob.astype(np.float64), ptr[rows]) if rows.size else np.zeros(0)
    steps = 1.0 + live * np.where(first != last, 2.0, 1.0)
    mode = np.full(deg.shape[0], SCAN_EDGE_P, dtype=np.float32)
    mode[rows] = np.where(first == last, first, np.float32(SCAN_EDGE_P))
    mode[rows[deg[rows] > _SKIP_STEP_COST * steps]] = SKIP
    return mode


def _rows(
    key: NDArray[np.int64], other: NDArray[np.int64], prob: NDArray[np.float32], n: int
) -> Rows:
    """Rows of ``other`` grouped by ``key``, each sorted by decreasing probability."""
    order = np.lexsort((-prob, key))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
    p = prob[order]
    rec = np.empty((p.shape[0], 2), dtype=np.int32)
    rec_p = rec.view(np.float32)
    rec[:, 0] = other[order]
    rec_p[:, 1] = p
    with np.errstate(divide="ignore"):
        inv_log = (1.0 / np.log1p(-p.astype(np.float64))).astype(np.float32)
    return Rows(
        ptr=ptr.astype(np.int32) if p.shape[0] < 2**31 else ptr,
        rec=rec,
        rec_p=rec_p,
        inv_log=inv_log,
        row_p=row_modes(ptr, p),
    )


def kernel_graph(graph: InfluenceGraph) -> KernelGraph:
    """Prepare (and cache on the graph object) the arrays used by the kernels.

    Raises:
        ValueError: if the graph has no probabilities.
    """
    cached = graph.__dict__.get("_kernel_graph")
    if cached is not None:
        return cached
    if graph.prob is None:
        raise ValueError(
            "graph has no edge probabilities; assign them with uniform(), weighted_cascade() "
            "or learned_from_log()"
        )
    n = graph.num_nodes
    perm = np.lexsort((np.arange(n), -graph.in_degree)).astype(np.int64)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    src = inv[graph.sources]
    dst = inv[graph.indices]
    into = _rows(dst, src, graph.prob, n)
    kg = KernelGraph(
        perm=perm,
        inv=inv,
        out=_rows(src, dst, graph.prob, n),
        into=into,
        in_cum=_row_cumsum(into.ptr, into.rec_p[:, 1].astype(np.float64)),
    )
    graph.__dict__["_kernel_graph"] = kg
    return kg


@njit(cache=True)
def _row_cumsum(ptr: RowPtr, values: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty_like(values)
    for r in range(ptr.shape[0] - 1):
        total = 0.0
        for j in range(ptr[r], ptr[r + 1]):
            total += values[j]
            out[j] = total
    return out
