"""IMM's RR-set counts (Tang, Shi & Xiao, "Influence Maximization in Near-Linear Time: A
Martingale Approach", SIGMOD 2015, https://doi.org/10.1145/2723372.2723734).

:func:`imm_sample_count` runs IMM's sampling phase: it doubles a guess of the optimum until
greedy coverage of enough RR sets confirms it, which gives a lower bound on OPT and hence the
number of RR sets the final selection needs for, with probability ``>= 1 - n^-ell``, a
``(1 - 1/e - epsilon)``-approximation of the best ``k`` candidates.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph
from graph.reach.rr_sets import RRCollection
from graph.reach.runners import Runner


def _log_binom(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def imm_rr_counts(
    scale: float, num_nodes: int, pool: int, k: int, epsilon: float, ell: float
) -> tuple[float, float, float]:
    """IMM's ``(lambda', lambda*, ell)`` (Tang et al. 2015, eqs. 9 and 6, with ``ell``
    raised by ``1 + log 2 / log n`` for the union bound over both phases)."""
    n = max(num_nodes, 2)
    ell = ell * (1.0 + math.log(2) / math.log(n))
    lb = _log_binom(pool, k)
    eps_p = math.sqrt(2.0) * epsilon
    lam_p = (
        (2.0 + 2.0 / 3.0 * eps_p)
        * (lb + ell * math.log(n) + math.log(max(math.log2(n), 1.0)))
        * scale
        / eps_p**2
    )
    e1 = 1.0 - 1.0 / math.e
    alpha = math.sqrt(ell * math.log(n) + math.log(2))
    beta = math.sqrt(e1 * (lb + ell * math.log(n) + math.log(2)))
    lam_star = 2.0 * scale * (e1 * alpha + beta) ** 2 / epsilon**2
    return lam_p, lam_star, ell


def imm_sample_count(
    graph: InfluenceGraph,
    lt: bool,
    base: int,
    weights: NDArray[np.float64] | None,
    scale: float,
    candidates: NDArray[np.int32],
    k: int,
    epsilon: float,
    ell: float,
    max_rr_sets: int,
    runner: Runner,
) -> tuple[int, int]:
    """IMM's sampling phase: a lower bound on OPT, hence the number of RR sets needed.

    ``scale`` is the number of nodes (reach) or the sum of root weights (qualified reach).

    Returns:
        ``(RR sets needed for the final selection, RR sets sampled in this phase)``.
    """
    n = graph.num_nodes
    lam_p, lam_star, _ = imm_rr_counts(scale, n, candidates.shape[0], k, epsilon, ell)
    eps_p = math.sqrt(2.0) * epsilon
    pool = RRCollection(graph, lt, base, 0, weights, runner)
    ones = np.ones(candidates.shape[0])
    lower = scale / n
    for i in range(1, max(2, int(math.log2(n)))):
        x = scale / 2.0**i
        theta_i = min(math.ceil(lam_p / x), max_rr_sets)
        pool.grow(theta_i)
        _, gains = pool.cover(candidates, ones, float(k), k, False)
        estimate = scale * float(gains.sum()) / pool.size
        if estimate >= (1.0 + eps_p) * x:
            lower = estimate / (1.0 + eps_p)
            break
        if theta_i >= max_rr_sets:
            break
    return int(min(math.ceil(lam_star / lower), max_rr_sets)), pool.size
