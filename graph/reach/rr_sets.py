"""Reverse-reachable (RR) sets (Borgs et al. SODA 2014; Tang, Shi & Xiao SIGMOD 2015).

An RR set is the set of nodes that reach a random root in a random live-edge world: BFS over
the in-edges from the root (IC: each in-edge live with its probability; LT: each node keeps at
most one in-edge). The root is uniform, or drawn in proportion to a weight (qualified reach).
Set ``i`` draws from one stream keyed by ``(base seed, i)`` (:mod:`graph.reach.kernels`), so a
collection is the same for any split into chunks (:class:`RRChunk`) and any runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from graph.reach.cover import greedy_cover
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernel_graph import KernelGraph, kernel_graph
from graph.reach.kernels import (
    STREAM_RR,
    RowPtr,
    live_edges,
    max_row,
    rand,
    sample_parent,
    stream_key,
)
from graph.reach.runners import Runner, chunk_ranges, resolve_runner


@njit(cache=True, inline="always")
def _append(buf: NDArray[np.int32], size: int, v: int) -> NDArray[np.int32]:
    """``buf`` with ``v`` written at ``size``, grown (doubled) when full."""
    if size >= buf.shape[0]:
        grown = np.empty(2 * buf.shape[0], dtype=np.int32)
        grown[:size] = buf[:size]
        buf = grown
    buf[size] = v
    return buf


@njit(cache=True, nogil=True)
def _rr_chunk(
    in_ptr: RowPtr,
    in_rec: NDArray[np.int32],
    in_rec_p: NDArray[np.float32],
    in_inv_log: NDArray[np.float32],
    in_row_p: NDArray[np.float32],
    in_cum: NDArray[np.float64],
    lt: bool,
    root_cum: NDArray[np.float64],
    begin: int,
    end: int,
    base_seed: np.uint64,
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    n = in_ptr.shape[0] - 1
    count = end - begin
    ptr = np.zeros(count + 1, dtype=np.int64)
    buf = np.empty(max(16, 4 * count), dtype=np.int32)
    visited = np.zeros(n, dtype=np.uint8)
    live = np.empty(max_row(in_ptr), dtype=np.int64)
    state = np.zeros(1, dtype=np.uint64)
    weighted = root_cum.shape[0] == n
    size = 0
    for t in range(count):
        state[0] = stream_key(base_seed, STREAM_RR, begin + t)
        r = rand(state)
        if weighted:
            lo = 0
            hi = n - 1
            x = r * root_cum[n - 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if root_cum[mid] > x:
                    hi = mid
                else:
                    lo = mid + 1
            root = lo
        else:
            root = min(int(r * n), n - 1)
        start = size
        buf = _append(buf, size, root)
        size += 1
        visited[root] = 1
        head = start
        while head < size:
            v = buf[head]
            head += 1
            if lt:
                u = sample_parent(v, in_ptr, in_rec, in_cum, state)
                if u >= 0 and visited[u] == 0:
                    visited[u] = 1
                    buf = _append(buf, size, u)
                    size += 1
                continue
            a = in_ptr[v]
            b = in_ptr[v + 1]
            if a == b:
                continue
            for c in range(live_edges(in_rec_p, in_inv_log, in_row_p[v], a, b, state, live)):
                u = in_rec[live[c], 0]
                if visited[u] == 0:
                    visited[u] = 1
                    buf = _append(buf, size, u)
                    size += 1
        for i in range(start, size):
            visited[buf[i]] = 0
        ptr[t + 1] = size
    return ptr, buf[:size].copy()


@dataclass(frozen=True)
class RRChunk:
    """One unit of RR-set work: sets ``begin .. end - 1``; set ``i`` depends only on
    ``(base_seed, i)``. ``root_cum`` is the cumulative root weight in kernel labels, or empty
    for uniform roots."""

    lt: bool
    root_cum: NDArray[np.float64]
    begin: int
    end: int
    base_seed: int


def rr_chunk(kg: KernelGraph, chunk: RRChunk) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """RR sets of one chunk as CSR ``(ptr, nodes)``, nodes in kernel labels."""
    return _rr_chunk(
        kg.into.ptr,
        kg.into.rec,
        kg.into.rec_p,
        kg.into.inv_log,
        kg.into.row_p,
        kg.in_cum,
        chunk.lt,
        chunk.root_cum,
        chunk.begin,
        chunk.end,
        np.uint64(chunk.base_seed),
    )


def generate_rr_sets(
    graph: InfluenceGraph,
    *,
    lt: bool,
    begin: int,
    end: int,
    base_seed: int,
    root_weights: NDArray[np.float64] | None = None,
    jobs: int | None = None,
    runner: Runner | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """RR sets ``begin .. end-1`` as CSR ``(ptr, nodes)``; roots are uniform or drawn with
    probability proportional to ``root_weights``. Set ``i`` is the same for any split (one
    chunk per worker of ``runner``, default ``jobs`` threads)."""
    run = resolve_runner(graph, jobs, runner)
    kg = kernel_graph(graph)
    root_cum = (
        np.zeros(0) if root_weights is None else np.cumsum(root_weights[kg.perm], dtype=np.float64)
    )
    chunks = [
        RRChunk(lt, root_cum, begin + a, begin + b, base_seed & 0xFFFFFFFFFFFFFFFF)
        for a, b in chunk_ranges(end - begin, run.workers)
    ]
    if not chunks:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    results = run.map(rr_chunk, chunks)
    ptrs = [np.zeros(1, dtype=np.int64)]
    offset = 0
    for ptr, nodes in results:
        ptrs.append(ptr[1:] + offset)
        offset += nodes.shape[0]
    nodes = np.concatenate([nodes for _, nodes in results])
    return np.concatenate(ptrs), kg.perm[nodes].astype(np.int32)


class RRCollection:
    """A growing collection of RR sets (CSR ``ptr``, ``nodes``) with stable per-index
    randomness: set ``offset + i`` is the same whenever it is drawn.

    Args:
        graph: The influence graph, with probabilities.
        lt: Linear Threshold (else Independent Cascade).
        base: Base seed of the streams.
        offset: Stream index of the first set (independent collections use distant offsets).
        weights: Root weights per node (qualified reach), or ``None`` for uniform roots.
        runner: Where the sets are drawn.
    """

    def __init__(
        self,
        graph: InfluenceGraph,
        lt: bool,
        base: int,
        offset: int,
        weights: NDArray[np.float64] | None,
        runner: Runner,
    ) -> None:
        self.graph, self.lt, self.base, self.offset = graph, lt, base, offset
        self.weights, self.runner = weights, runner
        self.ptr = np.zeros(1, dtype=np.int64)
        self.nodes = np.zeros(0, dtype=np.int32)

    @property
    def size(self) -> int:
        """Number of RR sets drawn so far."""
        return int(self.ptr.shape[0] - 1)

    def grow(self, total: int) -> None:
        """Draw sets until there are ``total`` (no-op when there are already as many)."""
        if total <= self.size:
            return
        ptr, nodes = generate_rr_sets(
            self.graph,
            lt=self.lt,
            begin=self.offset + self.size,
            end=self.offset + total,
            base_seed=self.base,
            root_weights=self.weights,
            runner=self.runner,
        )
        self.ptr = np.concatenate([self.ptr, ptr[1:] + self.nodes.shape[0]])
        self.nodes = np.concatenate([self.nodes, nodes])

    def cover(
        self,
        candidates: NDArray[np.int32],
        costs: NDArray[np.float64],
        budget: float,
        max_seeds: int,
        per_cost: bool,
    ) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Greedy maximum coverage of these sets (:func:`graph.reach.cover.greedy_cover`)."""
        return greedy_cover(
            self.ptr,
            self.nodes,
            self.graph.num_nodes,
            candidates,
            costs,
            float(budget),
            int(max_seeds),
            per_cost,
        )
