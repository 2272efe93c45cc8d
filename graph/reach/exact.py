"""Exact expected reach on tiny graphs by enumerating every live-edge world.

IC: each edge with ``0 < p < 1`` is live or not (``2^m`` worlds; edges with ``p = 1`` are
always live, ``p = 0`` never). LT: each node keeps one incoming edge ``u -> v`` with
probability ``w(u, v)`` or none with probability ``1 - sum w`` (the product of the choice
counts). Reach in a world is the set reachable from the seeds (seeds included), which is
equal in distribution to the IC / LT cascade (Kempe, Kleinberg & Tardos, KDD 2003). Used to
check the Monte-Carlo estimates, and public for "exact where checkable" answers.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.reach.estimate import Model, check_affinity, check_model_graph, resolve_seeds
from graph.reach.influence_graph import InfluenceGraph


@dataclass(frozen=True)
class ExactReach:
    """Exact expectations (same definitions as :class:`graph.reach.estimate.ReachEstimate`)."""

    reach: float
    by_hop: list[float]
    alone: list[float]
    marginal: list[float]
    overlap: list[list[float]]
    shared: float
    qualified: float | None
    worlds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _worlds(
    graph: InfluenceGraph, lt: bool, max_worlds: int
) -> list[tuple[float, list[list[int]]]]:
    """All live-edge worlds as (probability, adjacency lists)."""
    assert graph.prob is not None
    n = graph.num_nodes
    src = graph.sources.tolist()
    dst = graph.indices.tolist()
    prob = graph.prob.astype(np.float64).tolist()
    options: list[list[tuple[float, list[tuple[int, int]]]]] = []
    if lt:
        incoming: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for u, v, p in zip(src, dst, prob, strict=True):
            if p > 0:
                incoming[v].append((u, p))
        for v in range(n):
            choice = [(p, [(u, v)]) for u, p in incoming[v]]
            rest = 1.0 - sum(p for _, p in incoming[v])
            if rest > 1e-12:
                choice.append((rest, []))
            if choice:
                options.append(choice)
    else:
        for u, v, p in zip(src, dst, prob, strict=True):
            if p >= 1.0:
                options.append([(1.0, [(u, v)])])
            elif p > 0.0:
                options.append([(p, [(u, v)]), (1.0 - p, [])])
    count = 1
    for choice in options:
        count *= len(choice)
        if count > max_worlds:
            raise ValueError(
                f"graph has more than max_worlds={max_worlds} live-edge worlds; exact "
                "enumeration is only for tiny graphs"
            )
    worlds = []
    for combo in itertools.product(*options):
        weight = 1.0
        adj: list[list[int]] = [[] for _ in range(n)]
        for p, edges in combo:
            weight *= p
            for u, v in edges:
                adj[u].append(v)
        worlds.append((weight, adj))
    return worlds


def _bfs(adj: list[list[int]], starts: Sequence[int]) -> dict[int, int]:
    dist = {s: 0 for s in starts}
    queue = deque(starts)
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def exact_reach(
    graph: InfluenceGraph,
    seeds: Sequence[str | int],
    *,
    model: Model = "ic",
    affinity: NDArray[np.floating] | None = None,
    max_worlds: int = 1 << 16,
) -> ExactReach:
    """Exact expected reach, by hop, per-seed alone / marginal reach and overlaps.

    Raises:
        ValueError: on invalid inputs (as :func:`graph.reach.estimate.estimate_reach`) or
            when the graph has more than ``max_worlds`` live-edge worlds.
    """
    lt = check_model_graph(graph, model)
    nodes = resolve_seeds(graph, seeds).tolist()
    check_affinity(graph, affinity)
    aff = None if affinity is None else np.asarray(affinity, dtype=np.float64)
    k = len(nodes)
    reach = shared = qualified = 0.0
    by_hop = np.zeros(graph.num_nodes + 1)
    alone = np.zeros(k)
    marginal = np.zeros(k)
    overlap = np.zeros((k, k))
    worlds = _worlds(graph, lt, max_worlds)
    for weight, adj in worlds:
        dist = _bfs(adj, nodes)
        reach += weight * len(dist)
        for h in dist.values():
            by_hop[h] += weight
        if aff is not None:
            qualified += weight * float(aff[list(dist)].sum())
        sets = [set(_bfs(adj, [s])) for s in nodes]
        for i in range(k):
            alone[i] += weight * len(sets[i])
            others = set().union(*(sets[j] for j in range(k) if j != i))
            marginal[i] += weight * len(sets[i] - others)
            for j in range(k):
                overlap[i, j] += weight * len(sets[i] & sets[j])
        counts: dict[int, int] = {}
        for s in sets:
            for v in s:
                counts[v] = counts.get(v, 0) + 1
        shared += weight * sum(1 for c in counts.values() if c >= 2)
    last = int(np.flatnonzero(by_hop > 0)[-1]) + 1
    return ExactReach(
        reach=reach,
        by_hop=by_hop[:last].tolist(),
        alone=alone.tolist(),
        marginal=marginal.tolist(),
        overlap=overlap.tolist(),
        shared=shared,
        qualified=qualified if aff is not None else None,
        worlds=len(worlds),
    )


def exact_spread(
    graph: InfluenceGraph,
    seed_sets: Sequence[Sequence[str | int]],
    *,
    model: Model = "ic",
    affinity: NDArray[np.floating] | None = None,
    max_worlds: int = 1 << 16,
) -> list[float]:
    """Exact expected reach (or qualified reach when ``affinity`` is given) of each seed set
    in ``seed_sets``, enumerating the worlds once (for brute-force optima on tiny graphs)."""
    lt = check_model_graph(graph, model)
    check_affinity(graph, affinity)
    aff = None if affinity is None else np.asarray(affinity, dtype=np.float64)
    sets = [resolve_seeds(graph, s).tolist() for s in seed_sets]
    totals = [0.0] * len(sets)
    for weight, adj in _worlds(graph, lt, max_worlds):
        for i, nodes in enumerate(sets):
            reached = _bfs(adj, nodes)
            value = len(reached) if aff is None else float(aff[list(reached)].sum())
            totals[i] += weight * value
    return totals
