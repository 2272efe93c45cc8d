"""Checks shared by the runner tests (processes, Dask): every runner gives exactly the
in-process estimates, RR sets and plans (a helpers module, not tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graph.reach.estimate import estimate_reach
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.plan import plan_campaign
from graph.reach.rr_sets import generate_rr_sets
from graph.reach.runners import Runner

SEEDS = [0, 7, 42, 300]
#: ``(model, with_affinity, budget)`` of the plans compared.
PLAN_CASES = [("ic", False, None), ("lt", False, None), ("ic", True, None), ("ic", False, 7.0)]


def assert_same_estimates(
    graph: InfluenceGraph,
    runners: Sequence[Runner],
    affinity: np.ndarray,
    *,
    model: str,
    with_affinity: bool,
    attribution: bool,
) -> None:
    """Each runner's estimate equals the one-thread estimate, every field exactly."""
    kwargs: dict[str, Any] = dict(
        model=model,
        simulations=301,  # unequal chunks
        seed=17,
        affinity=affinity if with_affinity else None,
        attribution=attribution,
    )
    local = estimate_reach(graph, SEEDS, jobs=1, **kwargs)
    for runner in runners:
        # Dataclass equality: every field, floats compared exactly.
        assert estimate_reach(graph, SEEDS, processes=runner, **kwargs) == local
    # Not vacuous: the cascades spread, and the optional parts are there.
    assert local.reach.mean > len(SEEDS) + 5 and local.reach.std_error > 0
    assert len(local.by_hop) > 2
    assert (local.per_seed is not None) == attribution
    assert (local.qualified is not None) == with_affinity
    if attribution:
        assert local.shared is not None and local.shared.mean > 0


def assert_same_rr_sets(
    graph: InfluenceGraph, runners: Sequence[Runner], affinity: np.ndarray, *, model: str
) -> None:
    """Each runner's RR sets (uniform and weighted roots) equal the one-thread ones."""
    for weights in (None, affinity):
        kwargs: dict[str, Any] = dict(
            lt=model == "lt", begin=1000, end=3001, base_seed=9, root_weights=weights
        )
        ptr, nodes = generate_rr_sets(graph, jobs=1, **kwargs)
        for runner in runners:
            ptr_r, nodes_r = generate_rr_sets(graph, runner=runner, **kwargs)
            np.testing.assert_array_equal(ptr_r, ptr)
            np.testing.assert_array_equal(nodes_r, nodes)
        assert ptr.shape[0] == 2002 and nodes.shape[0] > 2001  # some sets beyond the root


def assert_same_plans(
    graph: InfluenceGraph,
    runner: Runner,
    affinity: np.ndarray,
    *,
    model: str,
    with_affinity: bool,
    budget: float | None,
) -> None:
    """The runner's plan equals the one-thread plan."""
    costs = {f"u{i}": 1.0 + (i % 3) for i in range(60)} if budget else None
    kwargs: dict[str, Any] = dict(
        k=None if budget else 5,
        budget=budget,
        costs=costs,
        model=model,
        affinity=affinity if with_affinity else None,
        pool_size=60,
        simulations=200,
        seed=21,
    )
    local = plan_campaign(graph, jobs=1, **kwargs)
    assert plan_campaign(graph, processes=runner, **kwargs) == local
    assert len(local.chosen) >= 3 and local.rr_sets > 100
