"""Numba primitives shared by the reach kernels: random streams, live-edge sampling, prefetch.

Every random draw comes from a splitmix64 stream keyed by ``(base_seed, stream, index)``
(:func:`stream_key`): IC simulation ``i`` gets a key per world, and each node's out-edges in
that world a stream ``mix(key ^ node)``; LT likewise for each node's incoming choice; RR set
``i`` one stream. So results do not depend on how work is split into chunks or where the
chunks run (:mod:`graph.reach.runners`), and simulation ``i`` samples the same live-edge world
whatever the seed set (common random numbers: estimates for two seed sets with the same
``seed`` are paired, world by world).

The live out-edges of a reached node are drawn in one of two exact ways, whichever is cheaper
for its row (decided once per graph, :func:`graph.reach.kernel_graph.row_modes`): a Bernoulli
test per edge with two 32-bit uniforms per 64-bit draw (short rows; when all the row's edges
share one probability, as with uniform p, it is kept per row and the row itself is read only at
its live edges), or geometric skipping over the row sorted by decreasing probability, with
thinning for unequal probabilities (long rows with small probabilities), whose cost is
proportional to the live edges (:func:`live_edges`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

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
#: Queue places ahead whose rows the BFS prefetches.
LOOKAHEAD = 8
#: ``Rows.row_p`` (:mod:`graph.reach.kernel_graph`) of rows sampled by a test per edge with
#: the edges' own probabilities, and of rows sampled by geometric skipping (``>= 0``: a test
#: per edge, all with that one p).
SCAN_EDGE_P = -1.0
SKIP = -2.0

#: Streams keep simulation and RR-set randomness independent for one user seed.
STREAM_SIMULATION = 1
STREAM_RR = 2
STREAM_LT = 3

#: Row pointers: int32 when the edge count fits, else int64.
RowPtr = NDArray[np.int32] | NDArray[np.int64]


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


prefetch = cast(Callable[[NDArray[Any], int], None], intrinsic(_prefetch_intrinsic))


@njit(cache=True, inline="always")
def mix(x: np.uint64) -> np.uint64:
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def next_bits(state: NDArray[np.uint64]) -> np.uint64:
    """The next 64 random bits of the splitmix64 stream held in ``state[0]``."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def rand(state: NDArray[np.uint64]) -> float:
    """Uniform in (0, 1) with 53 random bits."""
    return (np.float64(np.int64(next_bits(state) >> _S11)) + 0.5) * _INV53


@njit(cache=True, inline="always")
def stream_key(base: np.uint64, stream: int, index: int) -> np.uint64:
    """The stream key of ``(base seed, stream, index)``."""
    return mix(base ^ mix(np.uint64(stream) * _M1 + mix(np.uint64(index))))


@njit(cache=True, inline="always")
def next_live(
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
            r = rand(state)
            if r <= 1.0 - q:  # else the geometric skip is 0 (same inversion)
                skip = math.floor(math.log(r) * inv_log[j])
                if skip >= b - j:
                    return b
                j += int(skip)
            pj = rec_p[j, 1]
            if pj < q and rand(state) * q >= pj:
                j += 1
                continue
        return j
    return b


@njit(cache=True, inline="always")
def live_edges(
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

    ``mode`` is the row's ``Rows.row_p``: for ``mode > SKIP``, one Bernoulli test per
    edge, two per 64-bit draw (``u < p`` with ``u`` a 32-bit uniform, exact to ``2^-33``),
    with ``p = mode`` for every edge when ``mode >= 0`` (the row is not read: only the live
    edges' targets will be); otherwise geometric skipping (:func:`next_live`).
    """
    count = 0
    if mode > SKIP:
        same = mode >= 0.0
        s = state[0]  # the stream in a local: no store and reload per draw
        j = a
        while j + 1 < b:
            z = mix(s)  # = next_bits(state)
            s += _GOLDEN
            p0 = mode if same else rec_p[j, 1]
            p1 = mode if same else rec_p[j + 1, 1]
            out[count] = j
            count += int((np.float64(np.int64(z >> _S32)) + 0.5) * _INV32 < p0)
            out[count] = j + 1
            count += int((np.float64(np.int64(z & _LOW32)) + 0.5) * _INV32 < p1)
            j += 2
        if j < b:
            z = mix(s)
            s += _GOLDEN
            p0 = mode if same else rec_p[j, 1]
            out[count] = j
            count += int((np.float64(np.int64(z >> _S32)) + 0.5) * _INV32 < p0)
        state[0] = s
        return count
    q = rec_p[a, 1]
    if q == rec_p[b - 1, 1]:  # one probability: next_live without thinning or per-step reads
        if q <= 0.0:
            return 0
        scale = inv_log[a]
        j = a
        while j < b:
            if q < 1.0:
                r = rand(state)
                if r <= 1.0 - q:
                    skip = math.floor(math.log(r) * scale)
                    if skip >= b - j:
                        break
                    j += int(skip)
            out[count] = j
            count += 1
            j += 1
        return count
    j = next_live(rec_p, inv_log, a, b, state)
    while j < b:
        out[count] = j
        count += 1
        j = next_live(rec_p, inv_log, j + 1, b, state)
    return count


@njit(cache=True, inline="always")
def sample_parent(
    v: int,
    in_ptr: RowPtr,
    in_rec: NDArray[np.int32],
    in_cum: NDArray[np.float64],
    state: NDArray[np.uint64],
) -> int:
    """LT live-edge choice: the in-neighbour whose edge ``v`` keeps, or -1 for none."""
    a = in_ptr[v]
    b = in_ptr[v + 1]
    r = rand(state)
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
def max_row(ptr: RowPtr) -> int:
    """Length of the longest row (at least 1)."""
    longest = 1
    for r in range(ptr.shape[0] - 1):
        longest = max(longest, ptr[r + 1] - ptr[r])
    return longest
