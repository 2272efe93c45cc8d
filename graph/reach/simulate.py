"""Numba kernels: Monte-Carlo cascades (IC, LT), reverse-reachable sets and greedy coverage.

Every random draw comes from a splitmix64 stream keyed by ``(base_seed, stream, index)``:
IC simulation ``i`` gets a key per world, and each node's out-edges in that world a stream
``mix(key ^ node)``; LT likewise for each node's incoming choice; RR set ``i`` one stream. So
results do not depend on how work is split into chunks (:class:`SimulationChunk`,
:class:`RRChunk`) or where the chunks run (threads, :class:`ThreadRunner`; processes,
:mod:`graph.reach.parallel`), and simulation ``i`` samples the same live-edge world
whatever the seed set (common random numbers: estimates for two seed sets with the same
``seed`` are paired, world by world).

Each simulation samples a *live-edge world* lazily (Kempe, Kleinberg & Tardos, KDD 2003):
IC keeps edge ``u -> v`` with probability ``p(u, v)``; LT lets each node pick at most one
incoming edge, ``u -> v`` with probability ``w(u, v)``. The cascade is the set reachable from
the seeds in that world, found by BFS (hop = BFS level = activation round). The live
out-edges of a reached node are drawn in one of two exact ways, whichever is cheaper for its
row (decided once per graph from the row's length and expected live edges, see
:func:`_row_modes`): a Bernoulli test per edge with two 32-bit uniforms per 64-bit draw
(short rows; when all the row's edges share one probability, as with uniform p, it is kept
per row and the row itself is read only at its live edges), or geometric skipping over the
row sorted by decreasing probability, with thinning for unequal probabilities (long rows with
small probabilities), whose cost is proportional to the live edges. The BFS prefetches the
row bounds and modes and the first edges of nodes a few queue places ahead, so their cache
misses overlap with work.

The kernels are internal; use :func:`graph.reach.estimate.estimate_reach` and
:mod:`graph.reach.plan`.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV53 = 1.0 / 9007199254740992.0
_INV32 = 1.0 / 4294967296.0
_LOOKAHEAD = 8
#: Cost of one geometric-skip step (a draw and a logarithm), in per-edge Bernoulli tests.
_SKIP_STEP_COST = 12.0
#: :attr:`Rows.row_p` of rows sampled by a test per edge with the edges' own probabilities,
#: and of rows sampled by geometric skipping (``>= 0``: a test per edge, all with that one p).
_SCAN_EDGE_P = -1.0
_SKIP = -2.0

#: Streams keep simulation and RR-set randomness independent for one user seed.
STREAM_SIMULATION = 1
STREAM_RR = 2
STREAM_LT = 3

#: Row pointers: int32 when the edge count fits, else int64.
RowPtr = NDArray[np.int32] | NDArray[np.int64]
_T = TypeVar("_T")
_R = TypeVar("_R")


def _prefetch_intrinsic(typingctx: Any, arr: Any, index: Any) -> Any:
    """Hint the CPU to load the cache line of ``arr[index, 0, ...]`` (no effect on results)."""
    sig = types.void(arr, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        first = context.cast(builder, args[1], idxty, types.intp)
        zero = context.get_constant(types.intp, 0)
        at = [first] + [zero] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, at, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
        )
        # (address, read, high temporal locality, data cache)
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(fn, [builder.bitcast(ptr, i8p), *flags])
        return context.get_dummy_value()

    return sig, codegen


_prefetch = cast(Callable[[NDArray[Any], int], None], intrinsic(_prefetch_intrinsic))


@njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _next(state: NDArray[np.uint64]) -> np.uint64:
    """The next 64 random bits of the splitmix64 stream held in ``state[0]``."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _rand(state: NDArray[np.uint64]) -> float:
    """Uniform in (0, 1) with 53 random bits."""
    return (np.float64(np.int64(_next(state) >> _S11)) + 0.5) * _INV53


@njit(cache=True, inline="always")
def _key(base: np.uint64, stream: int, index: int) -> np.uint64:
    """The stream key of ``(base seed, stream, index)``."""
    return _mix(base ^ _mix(np.uint64(stream) * _M1 + _mix(np.uint64(index))))


@njit(cache=True, inline="always")
def _next_live(
    rec_p: NDArray[np.float32],
    inv_log: NDArray[np.float32],
    j: int,
    b: int,
    state: NDArray[np.uint64],
) -> int:
    """The next live edge in ``j:b`` (``b`` if none), each edge live with its probability.

    Edges of a row are sorted by descending probability ``rec_p[j, 1]``; ``inv_log[j]`` is
    ``1 / log(1 - p)``. A geometric skip with the run's largest probability ``q`` jumps over
    edges that cannot fire; thinning by ``p_j / q`` keeps each edge's own probability exact.
    """
    while j < b:
        q = rec_p[j, 1]
        if q <= 0.0:
            return b
        if q < 1.0:
            r = _rand(state)
            if r <= 1.0 - q:  # else the geometric skip is 0 (same inversion)
                skip = math.floor(math.log(r) * inv_log[j])
                if skip >= b - j:
                    return b
                j += int(skip)
            pj = rec_p[j, 1]
            if pj < q and _rand(state) * q >= pj:
                j += 1
                continue
        return j
    return b


@njit(cache=True, inline="always")
def _live_edges(
    rec_p: NDArray[np.float32],
    inv_log: NDArray[np.float32],
    mode: float,
    a: int,
    b: int,
    state: NDArray[np.uint64],
    out: NDArray[np.int64],
) -> int:
    """Sample which edges of row ``a:b`` are live (each independently with its probability);
    writes their positions to ``out`` and returns how many.

    ``mode`` is the row's :attr:`Rows.row_p`: for ``mode > _SKIP``, one Bernoulli test per
    edge, two per 64-bit draw (``u < p`` with ``u`` a 32-bit uniform, exact to ``2^-33``),
    with ``p = mode`` for every edge when ``mode >= 0`` (the row is not read: only the live
    edges' targets will be); otherwise geometric skipping (:func:`_next_live`).
    """
    count = 0
    if mode > _SKIP:
        same = mode >= 0.0
        s = state[0]  # the stream in a local: no store and reload per draw
        j = a
        while j + 1 < b:
            z = _mix(s)  # = _next(state)
            s += _GOLDEN
            p0 = mode if same else rec_p[j, 1]
            p1 = mode if same else rec_p[j + 1, 1]
            out[count] = j
            count += int((np.float64(np.int64(z >> _S32)) + 0.5) * _INV32 < p0)
            out[count] = j + 1
            count += int((np.float64(np.int64(z & _LOW32)) + 0.5) * _INV32 < p1)
            j += 2
        if j < b:
            z = _mix(s)
            s += _GOLDEN
            p0 = mode if same else rec_p[j, 1]
            out[count] = j
            count += int((np.float64(np.int64(z >> _S32)) + 0.5) * _INV32 < p0)
        state[0] = s
        return count
    q = rec_p[a, 1]
    if q == rec_p[b - 1, 1]:  # one probability: _next_live without thinning or per-step reads
        if q <= 0.0:
            return 0
        scale = inv_log[a]
        j = a
        while j < b:
            if q < 1.0:
                r = _rand(state)
                if r <= 1.0 - q:
                    skip = math.floor(math.log(r) * scale)
                    if skip >= b - j:
                        break
                    j += int(skip)
            out[count] = j
            count += 1
            j += 1
        return count
    j = _next_live(rec_p, inv_log, a, b, state)
    while j < b:
        out[count] = j
        count += 1
        j = _next_live(rec_p, inv_log, j + 1, b, state)
    return count


@njit(cache=True, inline="always")
def _sample_parent(
    v: int,
    in_ptr: RowPtr,
    in_rec: NDArray[np.int32],
    in_cum: NDArray[np.float64],
    state: NDArray[np.uint64],
) -> int:
    """LT live-edge choice: the in-neighbour whose edge ``v`` keeps, or -1 for none."""
    a = in_ptr[v]
    b = in_ptr[v + 1]
    r = _rand(state)
    if b == a or r >= in_cum[b - 1]:
        return -1
    lo = a
    hi = b - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if in_cum[mid] > r:
            hi = mid
        else:
            lo = mid + 1
    return int(in_rec[lo, 0])


@njit(cache=True)
def _max_row(ptr: RowPtr) -> int:
    """Length of the longest row (at least 1)."""
    longest = 1
    for r in range(ptr.shape[0] - 1):
        longest = max(longest, ptr[r + 1] - ptr[r])
    return longest


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
    live = np.empty(_max_row(indptr), dtype=np.int64)
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
        world = _key(base_seed, STREAM_LT if lt else STREAM_SIMULATION, sim)
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
            # Software pipelining of the cache misses: the row bounds of the node 2 * _LOOKAHEAD
            # places ahead in the queue, and the first edges of the one _LOOKAHEAD ahead.
            if head + 2 * _LOOKAHEAD < tail:
                _prefetch(indptr, queue[head + 2 * _LOOKAHEAD])
                _prefetch(row_p, queue[head + 2 * _LOOKAHEAD])
            if head + _LOOKAHEAD < tail:
                _prefetch(rec, indptr[queue[head + _LOOKAHEAD]])
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
                        state[0] = _mix(world ^ np.uint64(v))
                        pv = _sample_parent(v, in_ptr, in_rec, in_cum, state)
                        parent[v] = pv
                        touched[n_touched] = v
                        n_touched += 1
                    if pv == u:
                        live[count] = j
                        count += 1
            else:
                state[0] = _mix(world ^ np.uint64(u))
                count = _live_edges(rec_p, inv_log, row_p[u], a, b, state, live)
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
                slot = np.int64(_mix(key) & hmask)
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
class Rows:
    """One direction of the graph as the kernels read it.

    Row ``u`` is ``rec[ptr[u]:ptr[u + 1]]``, sorted by decreasing probability; each edge is one
    8-byte record ``(neighbour, p)`` (``rec_p`` is the float32 view of ``rec``, so ``p`` is
    ``rec_p[j, 1]``). ``inv_log[j] = 1 / log(1 - p)`` serves geometric skipping. ``row_p[u]``
    says how row ``u`` is sampled: ``_SKIP`` by geometric skipping, otherwise by a Bernoulli
    test per edge (where that is cheaper), with the row's one probability when all its edges
    share it (``row_p[u] >= 0``; e.g. uniform p), else ``_SCAN_EDGE_P`` (the edges' own).
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
        return (self.row_p != _SKIP).astype(np.uint8)

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


def _row_modes(ptr: NDArray[np.int64], prob: NDArray[np.float32]) -> NDArray[np.float32]:
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
    mode = np.full(deg.shape[0], _SCAN_EDGE_P, dtype=np.float32)
    mode[rows] = np.where(first == last, first, np.float32(_SCAN_EDGE_P))
    mode[rows[deg[rows] > _SKIP_STEP_COST * steps]] = _SKIP
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
        row_p=_row_modes(ptr, p),
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


def default_jobs() -> int:
    """Worker threads for the kernels: the CPUs available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class Runner(Protocol):
    """Runs chunks of kernel work for one graph on some workers (threads here, processes in
    :mod:`graph.reach.parallel`): ``map(fn, items)`` returns ``[fn(kernel graph, item) ...]``
    in order, each ``fn`` a module-level function of this module."""

    @property
    def graph(self) -> InfluenceGraph: ...

    @property
    def workers(self) -> int: ...

    def map(self, fn: Callable[[KernelGraph, _T], _R], items: Sequence[_T]) -> list[_R]: ...


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


def _merge(parts: Sequence[RawSimulations]) -> RawSimulations:
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


def _chunks(total: int, jobs: int) -> list[tuple[int, int]]:
    jobs = max(1, min(jobs, total))
    bounds = np.linspace(0, total, jobs + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


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
) -> RawSimulations:
    """Run ``simulations`` cascades from node indices ``seeds`` (validated by the caller), split
    into one chunk per worker of ``runner`` (default: ``jobs`` threads); the result does not
    depend on the split."""
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
            begin=begin,
            end=end,
            base_seed=base_seed & 0xFFFFFFFFFFFFFFFF,
            attribute=attribute,
            affinity=aff,
        )
        for begin, end in _chunks(simulations, run.workers) or [(0, 0)]
    ]
    return _merge(run.map(simulate_chunk, chunks))


# ---------------------------------------------------------------------------------------------
# Reverse-reachable sets (Borgs et al. SODA 2014; Tang, Shi & Xiao SIGMOD 2015)
# ---------------------------------------------------------------------------------------------


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
    live = np.empty(_max_row(in_ptr), dtype=np.int64)
    state = np.zeros(1, dtype=np.uint64)
    weighted = root_cum.shape[0] == n
    size = 0
    for t in range(count):
        state[0] = _key(base_seed, STREAM_RR, begin + t)
        r = _rand(state)
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
                u = _sample_parent(v, in_ptr, in_rec, in_cum, state)
                if u >= 0 and visited[u] == 0:
                    visited[u] = 1
                    buf = _append(buf, size, u)
                    size += 1
                continue
            a = in_ptr[v]
            b = in_ptr[v + 1]
            if a == b:
                continue
            for c in range(_live_edges(in_rec_p, in_inv_log, in_row_p[v], a, b, state, live)):
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
        for a, b in _chunks(end - begin, run.workers)
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


@njit(cache=True)
def greedy_cover(
    rr_ptr: NDArray[np.int64],
    rr_nodes: NDArray[np.int32],
    num_nodes: int,
    candidates: NDArray[np.int32],
    costs: NDArray[np.float64],
    budget: float,
    max_seeds: int,
    benefit_per_cost: bool,
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Greedy maximum coverage of RR sets by candidate nodes.

    Picks, while ``len(chosen) < max_seeds`` and some unchosen candidate fits the remaining
    ``budget``, the candidate with the largest number of newly covered RR sets (or the largest
    newly-covered / cost when ``benefit_per_cost``). Ties go to the earlier candidate. Marginal
    coverage counts are maintained exactly, so this equals CELF's lazy greedy.

    Returns:
        ``(chosen candidate positions, newly covered sets per pick)``.
    """
    num_sets = rr_ptr.shape[0] - 1
    deg = np.zeros(num_nodes, dtype=np.int64)
    for e in range(rr_nodes.shape[0]):
        deg[rr_nodes[e]] += 1
    node_ptr = np.zeros(num_nodes + 1, dtype=np.int64)
    for v in range(num_nodes):
        node_ptr[v + 1] = node_ptr[v] + deg[v]
    fill = node_ptr[:-1].copy()
    node_sets = np.empty(rr_nodes.shape[0], dtype=np.int64)
    for r in range(num_sets):
        for e in range(rr_ptr[r], rr_ptr[r + 1]):
            v = rr_nodes[e]
            node_sets[fill[v]] = r
            fill[v] += 1
    covered = np.zeros(num_sets, dtype=np.uint8)
    taken = np.zeros(candidates.shape[0], dtype=np.uint8)
    chosen = np.empty(min(max_seeds, candidates.shape[0]), dtype=np.int32)
    gains = np.empty(chosen.shape[0], dtype=np.int64)
    remaining = budget
    n_chosen = 0
    while n_chosen < chosen.shape[0]:
        best = -1
        best_score = -1.0
        for c in range(candidates.shape[0]):
            if taken[c] == 1 or costs[c] > remaining + 1e-12:
                continue
            g = float(deg[candidates[c]])
            score = g / costs[c] if benefit_per_cost and costs[c] > 0 else g
            if benefit_per_cost and costs[c] <= 0:
                score = np.inf if g > 0 else 0.0
            if score > best_score:
                best = c
                best_score = score
        if best < 0:
            break
        v = candidates[best]
        taken[best] = 1
        remaining -= costs[best]
        chosen[n_chosen] = best
        gains[n_chosen] = deg[v]
        n_chosen += 1
        for e in range(node_ptr[v], node_ptr[v + 1]):
            r = node_sets[e]
            if covered[r] == 0:
                covered[r] = 1
                for f in range(rr_ptr[r], rr_ptr[r + 1]):
                    deg[rr_nodes[f]] -= 1
    return chosen[:n_chosen], gains[:n_chosen]


@njit(cache=True)
def count_propagations(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    act_ptr: NDArray[np.int64],
    act_item: NDArray[np.int64],
    act_ts: NDArray[np.int64],
    window: int,
) -> NDArray[np.int64]:
    """``A_{u2v}`` per edge ``u -> v``: items adopted by both with ``0 < t_v - t_u <= window``.
    Each node's actions are ``act_ptr[u]:act_ptr[u + 1]`` sorted by item."""
    out = np.zeros(indices.shape[0], dtype=np.int64)
    for u in range(indptr.shape[0] - 1):
        a0 = act_ptr[u]
        a1 = act_ptr[u + 1]
        if a0 == a1:
            continue
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            i = a0
            j = act_ptr[v]
            j1 = act_ptr[v + 1]
            c = 0
            while i < a1 and j < j1:
                if act_item[i] < act_item[j]:
                    i += 1
                elif act_item[i] > act_item[j]:
                    j += 1
                else:
                    dt = act_ts[j] - act_ts[i]
                    if 0 < dt <= window:
                        c += 1
                    i += 1
                    j += 1
            out[e] = c
    return out
