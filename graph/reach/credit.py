"""The credit distribution model: spread estimated directly from past propagation traces.

Goyal, Bonchi & Lakshmanan, "A data-based approach to social influence maximization",
VLDB 2011, https://arxiv.org/abs/1109.6886. When ``u`` adopts an item, the direct credit it
gives each in-neighbour ``w`` who adopted the item earlier (its "parents") is
``gamma(w, u) = 1 / |parents(u)|``; credit flows back along chains,
``Gamma(v, u) = sum_w Gamma(v, w) * gamma(w, u)`` with ``Gamma(v, v) = 1``. The influence of
``v`` on ``u`` is the credit averaged over ``u``'s actions, ``kappa(v, u) = sum_a Gamma_a(v, u)
/ A_u``, and the spread of a seed is ``sigma({s}) = 1 + sum_{u != s} kappa(s, u)``.

Simplified here (said in docs/reach-calibration.md): no time decay and no per-user
influenceability factor (every parent of ``u`` gets an equal share); parents count only when
they adopted at most ``window_s`` earlier; the spread of several seeds is the sum of their
singleton spreads beyond themselves (the paper's exact set credit is not additive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from graph.reach.adoptions import AdoptionLog, earlier_influencers
from graph.reach.influence_graph import InfluenceGraph


def credit_spread(graph: InfluenceGraph, log: AdoptionLog, *, window_s: int) -> NDArray[np.float64]:
    """Singleton credit-distribution spread ``sigma({v})`` of every node (seed included).

    Args:
        graph: The influence graph (edge ``u -> v``: ``v`` sees ``u``).
        log: The propagation traces (the fit part only).
        window_s: A parent must have adopted at most this many seconds earlier (> 0).

    Raises:
        ValueError: if ``window_s <= 0``.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
    spread = np.ones(graph.num_nodes, dtype=np.float64)
    if not len(log):
        return spread
    ptr, parents = earlier_influencers(graph, log, window_s)
    actions = np.bincount(log.user, minlength=graph.num_nodes).astype(np.float64)
    # D[j]: credit adoption j passes back, sum over its descendants u of Gamma / A_u. The log
    # is sorted by time and parents are strictly earlier, so a reverse pass sees children first.
    d = 1.0 / actions[log.user]
    share = np.zeros(len(log))
    counts = np.diff(ptr)
    share[counts > 0] = 1.0 / counts[counts > 0]
    for j in range(len(log) - 1, -1, -1):
        lo, hi = ptr[j], ptr[j + 1]
        if hi > lo:
            d[parents[lo:hi]] += share[j] * d[j]
    np.add.at(spread, log.user, d - 1.0 / actions[log.user])
    return spread


def set_spread(spread: NDArray[np.float64], seeds: Sequence[int]) -> float:
    """Spread of a seed set: ``k`` plus each seed's singleton spread beyond itself."""
    return float(len(seeds) + sum(spread[s] - 1.0 for s in seeds))
