"""Monte-Carlo cascades (IC, LT) from a seed set: the numba kernel and its chunked driver.

Each simulation samples a *live-edge world* lazily (Kempe, Kleinberg & Tardos, KDD 2003):
IC keeps edge ``u -> v`` with probability ``p(u, v)``; LT lets each node pick at most one
incoming edge, ``u -> v`` with probability ``w(u, v)``. The cascade is the set reachable from
the seeds in that world, found by BFS (hop = BFS level = activation round). World ``i`` draws
from streams keyed by ``(base seed, i)`` only (:mod:`graph.reach.kernels`), so results do not
depend on how the worlds are split into chunks (:class:`SimulationChunk`) or where they run
(:mod:`graph.reach.runners`). The BFS prefetches the row bounds and modes and the first edges
of nodes a few queue places ahead, so their cache misses overlap with work.

The kernel is internal; use :func:`graph.reach.estimate.estimate_reach`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.kernel_graph import KernelGraph, kernel_graph
from graph.reach.kernels import (
    LOOKAHEAD,
    STREAM_LT,
    STREAM_SIMULATION,
    RowPtr,
    live_edges,
    max_row,
    mix,
    prefetch,
    sample_parent,
    stream_key,
)
from graph.reach.runners import Runner, chunk_ranges, resolve_runner


@njit(cache=True, nogil=True)
def _simulate_chunk(
    indptr: RowPtr,
    rec: NDArray[np.int32],
    rec_p: NDArray[np.float32],
    inv_log: NDArray[np.float32],
    row_p: NDArray[np.float32],
    lt: bool,
    in_ptr: RowPtr,
    in_rec: NDArray[np.int32],
    in_cum: NDArray[np.float64],
    seeds: NDArray[np.int32],
    sim_begin: int,
    sim_end: int,
    base_seed: np.uint64,
    attribute: bool,
    affinity: NDArray[np.float64],
    reached_out: NDArray[np.int64],
    qualified_out: NDArray[np.float64],
    alone_out: NDArray[np.int32],
    marginal_out: NDArray[np.int32],
    shared_out: NDArray[np.int32],
    hop_sum: NDArray[np.int64],
    overlap_sum: NDArray[np.int64],
) -> None:
    n = indptr.shape[0] - 1
    k = seeds.shape[0]
    use_affinity = affinity.shape[0] == n
    active = np.zeros(n, dtype=np.uint8)
    queue = np.empty(n, dtype=np.int32)
    live = np.empty(max_row(indptr), dtype=np.int64)
    state = np.zeros(1, dtype=np.uint64)
    parent = np.full(n if lt else 0, -2, dtype=np.int32)
    touched = np.empty(n if lt else 0, dtype=np.int32)
    na = n if attribute else 0
    pos_of = np.empty(na, dtype=np.int32)
    live_off = np.empty(na + 1, dtype=np.int64)
    live_buf = np.empty(rec.shape[0] if attribute else 0, dtype=np.int32)
    mask = np.zeros(na, dtype=np.uint64)
    inq = np.zeros(na, dtype=np.uint8)
    work = np.empty(na + 1, dtype=np.int32)
    # Hash table of distinct seed masks: at most min(n, 2^k) of them, at most half full.
    distinct = na if k >= 20 else min(na, 1 << k)
    cap = 1
    while cap < 2 * distinct:
        cap *= 2
    hkeys = np.zeros(cap if attribute else 0, dtype=np.uint64)
    hcount = np.zeros(cap if attribute else 0, dtype=np.int64)
    hused = np.empty(cap if attribute else 0, dtype=np.int64)
    one = np.uint64(1)
    for sim in range(sim_begin, sim_end):
        row = sim - sim_begin  # outputs hold this chunk's simulations only
        world = stream_key(base_seed, STREAM_LT if lt else STREAM_SIMULATION, sim)
        tail = 0
        for i in range(k):
            s = seeds[i]
            active[s] = 1
            queue[tail] = s
            if attribute:
                pos_of[s] = tail
            tail += 1
        n_touched = 0
        n_live = 0
        head = 0
        level = 0
        level_start = 0
        level_end = tail
        while head < tail:
            if head == level_end:
                hop_sum[level] += level_end - level_start
                level += 1
                level_start = level_end
                level_end = tail
            u = queue[head]
            a = indptr[u]
            b = indptr[u + 1]
            # Software pipelining of the cache misses: the row bounds of the node 2 * LOOKAHEAD
            # places ahead in the queue, and the first edges of the one LOOKAHEAD ahead.
            if head + 2 * LOOKAHEAD < tail:
                prefetch(indptr, queue[head + 2 * LOOKAHEAD])
                prefetch(row_p, queue[head + 2 * LOOKAHEAD])
            if head + LOOKAHEAD < tail:
                prefetch(rec, indptr[queue[head + LOOKAHEAD]])
            if attribute:
                live_off[head] = n_live
            head += 1
            if a == b:
                continue
            if lt:
                count = 0
                for j in range(a, b):
                    v = rec[j, 0]
                    if active[v] == 1 and not attribute:
                        continue
                    pv = parent[v]
                    if pv == -2:
                        state[0] = mix(world ^ np.uint64(v))
                        pv = sample_parent(v, in_ptr, in_rec, in_cum, state)
                        parent[v] = pv
                        touched[n_touched] = v
                        n_touched += 1
                    if pv == u:
                        live[count] = j
                        count += 1
            else:
                state[0] = mix(world ^ np.uint64(u))
                count = live_edges(rec_p, inv_log, row_p[u], a, b, state, live)
            for c in range(count):
                v = rec[live[c], 0]
                if attribute:
                    live_buf[n_live] = v
                    n_live += 1
                if active[v] == 0:
                    active[v] = 1
                    if attribute:
                        pos_of[v] = tail
                    queue[tail] = v
                    tail += 1
        hop_sum[level] += tail - level_start
        reached_out[row] = tail
        if use_affinity:
            total = 0.0
            for i in range(tail):
                total += affinity[queue[i]]
            qualified_out[row] = total
        if attribute:
            live_off[tail] = n_live
            # Propagate seed bitmasks along live edges to a fixed point: one pass in BFS order
            # (every node after its BFS parent), then a worklist for the nodes that gained
            # bits from a live edge coming back from a later position.
            for i in range(k):
                mask[seeds[i]] |= one << np.uint64(i)
            w_head = 0
            w_tail = 0
            for p in range(tail):
                m = mask[queue[p]]
                for e in range(live_off[p], live_off[p + 1]):
                    v = live_buf[e]
                    nm = mask[v] | m
                    if nm != mask[v]:
                        mask[v] = nm
                        if pos_of[v] <= p and inq[v] == 0:
                            inq[v] = 1
                            work[w_tail] = v
                            w_tail = (w_tail + 1) % (na + 1)
            while w_head != w_tail:
                u = work[w_head]
                w_head = (w_head + 1) % (na + 1)
                inq[u] = 0
                m = mask[u]
                p = pos_of[u]
                for e in range(live_off[p], live_off[p + 1]):
                    v = live_buf[e]
                    nm = mask[v] | m
                    if nm != mask[v]:
                        mask[v] = nm
                        if inq[v] == 0:
                            inq[v] = 1
                            work[w_tail] = v
                            w_tail = (w_tail + 1) % (na + 1)
            # Count nodes per distinct mask (open addressing), then per-seed statistics.
            n_used = 0
            hmask = np.uint64(cap - 1)
            for i in range(tail):
                key = mask[queue[i]]
                slot = np.int64(mix(key) & hmask)
                while hkeys[slot] != 0 and hkeys[slot] != key:
                    slot = (slot + 1) & (cap - 1)
                if hkeys[slot] == 0:
                    hkeys[slot] = key
                    hused[n_used] = slot
                    n_used += 1
                hcount[slot] += 1
            shared = 0
            for t in range(n_used):
                slot = hused[t]
                key = hkeys[slot]
                c = hcount[slot]
                hkeys[slot] = 0
                hcount[slot] = 0
                bits = 0
                for i in range(k):
                    if (key >> np.uint64(i)) & one:
                        bits += 1
                        alone_out[row, i] += c
                        overlap_sum[i, i] += c
                        for jj in range(i + 1, k):
                            if (key >> np.uint64(jj)) & one:
                                overlap_sum[i, jj] += c
                if bits == 1:
                    for i in range(k):
                        if (key >> np.uint64(i)) & one:
                            marginal_out[row, i] += c
                else:
                    shared += c
            shared_out[row] = shared
            for i in range(tail):
                mask[queue[i]] = 0
        for i in range(tail):
            active[queue[i]] = 0
        for i in range(n_touched):
            parent[touched[i]] = -2


@dataclass(frozen=True)
class RawSimulations:
    """Per-simulation outputs of :func:`run_simulations` (seeds included in every count)."""

    reached: NDArray[np.int64]
    qualified: NDArray[np.float64] | None
    alone: NDArray[np.int32] | None
    marginal: NDArray[np.int32] | None
    shared: NDArray[np.int32] | None
    hop_sum: NDArray[np.int64]
    overlap_sum: NDArray[np.int64] | None


@dataclass(frozen=True)
class SimulationChunk:
    """One unit of simulation work: worlds ``begin .. end - 1`` for a seed set. With the
    graph, this is all a worker needs; world ``i`` depends only on ``(base_seed, i)``.

    Attributes:
        seeds: Seed nodes in the kernel's labels (:attr:`KernelGraph.inv` of the indices).
        lt: Linear Threshold (else Independent Cascade).
        begin: First world.
        end: One past the last world.
        base_seed: Base seed of the streams (64-bit).
        attribute: Compute per-seed attribution.
        affinity: ``float64[num_nodes]`` in kernel labels, or empty for none.
    """

    seeds: NDArray[np.int32]
    lt: bool
    begin: int
    end: int
    base_seed: int
    attribute: bool
    affinity: NDArray[np.float64]


def simulate_chunk(kg: KernelGraph, chunk: SimulationChunk) -> RawSimulations:
    """Run one chunk; per-world arrays have ``end - begin`` rows, ``hop_sum`` is trimmed after
    its last non-zero level."""
    n = kg.perm.shape[0]
    count = chunk.end - chunk.begin
    k = int(chunk.seeds.shape[0])
    reached = np.zeros(count, dtype=np.int64)
    qualified = np.zeros(count, dtype=np.float64)
    alone = np.zeros((count, k) if chunk.attribute else (0, k), dtype=np.int32)
    marginal = np.zeros_like(alone)
    shared = np.zeros(count if chunk.attribute else 0, dtype=np.int32)
    hops = np.zeros(n + 1, dtype=np.int64)
    overlaps = np.zeros((k, k) if chunk.attribute else (0, 0), dtype=np.int64)
    _simulate_chunk(
        kg.out.ptr,
        kg.out.rec,
        kg.out.rec_p,
        kg.out.inv_log,
        kg.out.row_p,
        chunk.lt,
        kg.into.ptr,
        kg.into.rec,
        kg.in_cum,
        chunk.seeds,
        chunk.begin,
        chunk.end,
        np.uint64(chunk.base_seed),
        chunk.attribute,
        chunk.affinity,
        reached,
        qualified,
        alone,
        marginal,
        shared,
        hops,
        overlaps,
    )
    nonzero = np.flatnonzero(hops)
    return RawSimulations(
        reached=reached,
        qualified=qualified if chunk.affinity.shape[0] == n else None,
        alone=alone if chunk.attribute else None,
        marginal=marginal if chunk.attribute else None,
        shared=shared if chunk.attribute else None,
        hop_sum=hops[: int(nonzero[-1]) + 1 if nonzero.size else 1],
        overlap_sum=overlaps if chunk.attribute else None,
    )


def merge_simulations(parts: Sequence[RawSimulations]) -> RawSimulations:
    """Chunks in world order -> one result (integer sums, so exact for any split)."""

    def joined(name: str) -> Any:
        arrays = [getattr(p, name) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    hop_sum = np.zeros(max(p.hop_sum.shape[0] for p in parts), dtype=np.int64)
    for p in parts:
        hop_sum[: p.hop_sum.shape[0]] += p.hop_sum
    overlaps = [p.overlap_sum for p in parts if p.overlap_sum is not None]
    return RawSimulations(
        reached=joined("reached"),
        qualified=joined("qualified"),
        alone=joined("alone"),
        marginal=joined("marginal"),
        shared=joined("shared"),
        hop_sum=hop_sum,
        overlap_sum=np.sum(overlaps, axis=0) if overlaps else None,
    )


def run_simulations(
    graph: InfluenceGraph,
    seeds: NDArray[np.int32],
    *,
    lt: bool,
    simulations: int,
    base_seed: int,
    attribute: bool,
    affinity: NDArray[np.float64] | None,
    jobs: int | None = None,
    runner: Runner | None = None,
    first: int = 0,
) -> RawSimulations:
    """Run ``simulations`` cascades (worlds ``first .. first + simulations - 1``) from node
    indices ``seeds`` (validated by the caller), split into one chunk per worker of ``runner``
    (default: ``jobs`` threads); the result does not depend on the split."""
    run = resolve_runner(graph, jobs, runner)
    kg = kernel_graph(graph)
    aff = (
        np.zeros(0)
        if affinity is None
        else np.ascontiguousarray(affinity[kg.perm], dtype=np.float64)
    )
    chunks = [
        SimulationChunk(
            seeds=np.ascontiguousarray(kg.inv[seeds], dtype=np.int32),
            lt=lt,
            begin=first + begin,
            end=first + end,
            base_seed=base_seed & 0xFFFFFFFFFFFFFFFF,
            attribute=attribute,
            affinity=aff,
        )
        for begin, end in chunk_ranges(simulations, run.workers) or [(0, 0)]
    ]
    return merge_simulations(run.map(simulate_chunk, chunks))
