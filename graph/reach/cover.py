"""Greedy maximum coverage of RR sets by candidate nodes (the selection step of IMM and CELF)."""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


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
