"""Campaign planning vs brute-force optima on tiny graphs (exact spreads by enumeration)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest

from graph.reach import kernel_graph as kg_module
from graph.reach.estimate import estimate_reach
from graph.reach.exact import exact_spread
from graph.reach.influence_graph import InfluenceGraph, lt_normalized
from graph.reach.plan import plan_campaign, top_followers
from graph.reach.rr_sets import generate_rr_sets


def planning_graph() -> InfluenceGraph:
    """Two overlapping "KOLs" (0, 1 share followers), a smaller independent one (2), and
    a hub-less tail: the top-followers pair {0, 1} is not the best pair."""
    edges = [
        (0, 3, 0.6),
        (0, 4, 0.6),
        (0, 5, 0.6),
        (1, 3, 0.6),
        (1, 4, 0.6),
        (1, 5, 0.5),
        (2, 6, 0.7),
        (2, 7, 0.7),
        (3, 4, 0.3),
        (6, 7, 0.2),
        (5, 8, 0.4),
    ]
    src, dst, prob = zip(*edges, strict=True)
    return InfluenceGraph.from_edges(src, dst, 9, prob=prob, ids=[f"n{i}" for i in range(9)])


def brute_force(
    graph: InfluenceGraph, subsets: Sequence[tuple[int, ...]], **kwargs: object
) -> tuple[float, tuple[int, ...]]:
    values = exact_spread(graph, [list(s) for s in subsets], **kwargs)  # type: ignore[arg-type]
    best = int(np.argmax(values))
    return values[best], subsets[best]


@pytest.mark.parametrize("model", ["ic", "lt"])
def test_count_plan_finds_brute_force_optimum(model: str) -> None:
    graph = planning_graph() if model == "ic" else lt_normalized(planning_graph())
    subsets = list(itertools.combinations(range(graph.num_nodes), 2))
    opt, _ = brute_force(graph, subsets, model=model)
    plan = plan_campaign(
        graph,
        k=2,
        model=model,  # type: ignore[arg-type]
        epsilon=0.1,
        seed=5,
        simulations=4000,
        pool_size=9,
    )
    chosen = [s.seed for s in plan.chosen]
    value = exact_spread(graph, [chosen], model=model)[0]  # type: ignore[arg-type]
    assert value >= (1 - 1 / math.e - 0.1) * opt  # IMM's guarantee
    assert value == pytest.approx(opt)  # and here the optimum itself
    assert plan.method == "imm" and len(chosen) == 2
    # Gains are marginal: they sum to the RR estimate of the set, which is near the truth.
    assert sum(s.gain for s in plan.chosen) == pytest.approx(value, rel=0.05)
    # The baseline is the top-followers pair and is estimated on the same worlds.
    assert plan.baseline == ["n0", "n1"]
    assert plan.estimate.reach.mean >= plan.baseline_estimate.reach.mean
    assert plan.ratio == pytest.approx(plan.estimate.reach.mean / plan.baseline_estimate.reach.mean)


@pytest.mark.parametrize("step_cost", [1e9, 0.0])
def test_rr_sets_estimate_the_exact_spread(
    step_cost: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RIS: n * P(an RR set meets S) = spread(S), with in-rows sampled by a test per edge
    (step_cost 1e9) or by geometric skipping (0)."""
    monkeypatch.setattr(kg_module, "_SKIP_STEP_COST", step_cost)
    graph = planning_graph()
    count = 40_000
    ptr, nodes = generate_rr_sets(graph, lt=False, begin=0, end=count, base_seed=1)
    for seeds in ([0], [0, 2], [1, 5, 8]):
        covered = np.add.reduceat(np.isin(nodes, seeds), ptr[:-1]) > 0
        estimate = graph.num_nodes * covered.mean()
        std_error = graph.num_nodes * covered.std() / math.sqrt(count)
        assert abs(estimate - exact_spread(graph, [seeds])[0]) < 4 * std_error


def test_budget_plan_within_guarantee() -> None:
    graph = planning_graph()
    costs = {f"n{i}": c for i, c in enumerate([5.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])}
    budget = 6.0
    subsets = [
        s
        for r in range(1, 6)
        for s in itertools.combinations(range(9), r)
        if sum(costs[f"n{i}"] for i in s) <= budget
    ]
    opt, _ = brute_force(graph, subsets)
    plan = plan_campaign(graph, budget=budget, costs=costs, epsilon=0.1, seed=2, simulations=2000)
    chosen = [s.seed for s in plan.chosen]
    assert plan.total_cost is not None and plan.total_cost <= budget
    value = exact_spread(graph, [chosen])[0]
    assert value >= 0.5 * (1 - 1 / math.e) * opt
    assert value >= 0.95 * opt
    assert plan.method in ("celf-unit-cost", "celf-cost-benefit")
    # Baseline: most-followed accounts that fit the budget (n0 costs 5, then only cost-1 fit).
    assert plan.baseline[0] == "n0"


def test_qualified_plan_targets_affinity() -> None:
    graph = planning_graph()
    affinity = np.zeros(9)
    affinity[[6, 7]] = 1.0  # only n2's audience are likely buyers
    affinity[3] = 0.2
    subsets = [(i,) for i in range(9)]
    opt, best = brute_force(graph, subsets, affinity=affinity)
    plan = plan_campaign(
        graph, k=1, affinity=affinity, epsilon=0.1, seed=1, simulations=2000, pool_size=9
    )
    assert plan.objective == "qualified"
    assert [s.seed for s in plan.chosen] == [f"n{best[0]}"] == ["n2"]
    assert plan.estimate.qualified is not None
    qualified = plan.estimate.qualified
    assert qualified.mean == pytest.approx(opt, abs=4 * qualified.std_error + 1e-9)
    assert plan.ratio > 1.5


def test_plan_equal_to_baseline_reports_the_baseline_estimate() -> None:
    # Two disjoint stars and a small one: the two hubs are the optimum and the top-followers set.
    src, dst = [0, 0, 0, 1, 1, 1, 2], [3, 4, 5, 6, 7, 8, 9]
    ids = [f"n{i}" for i in range(10)]
    graph = InfluenceGraph.from_edges(src, dst, 10, prob=[0.5] * 7, ids=ids)
    plan = plan_campaign(graph, k=2, seed=4, simulations=500, pool_size=10)
    assert sorted(s.seed for s in plan.chosen) == plan.baseline == ["n0", "n1"]
    direct = estimate_reach(
        graph, plan.baseline, simulations=500, seed=plan.seed, attribution=False
    )
    assert plan.baseline_estimate == direct
    assert plan.ratio == 1.0


def test_plan_is_reproducible() -> None:
    graph = planning_graph()
    a = plan_campaign(graph, k=2, seed=9, simulations=200)
    b = plan_campaign(graph, k=2, seed=9, simulations=200, jobs=1)
    assert a == b


def test_top_followers_order() -> None:
    graph = planning_graph()
    assert top_followers(graph, 3).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of k or budget"),
        ({"k": 2, "budget": 3.0}, "exactly one of k or budget"),
        ({"k": 0}, r"k must be an int in \[1, 9\]"),
        ({"k": 2, "candidates": ["n0", "zz"]}, "unknown user 'zz'"),
        ({"k": 2, "candidates": []}, "seeds is empty"),
        ({"budget": 3.0}, "budget mode needs costs"),
        (
            {"budget": 3.0, "costs": {"n0": 1.0}, "candidates": ["n0", "n1"]},
            "no entry for candidate 'n1'",
        ),
        ({"budget": 3.0, "costs": {"n0": -1.0}}, r"costs\['n0'\] = -1.0"),
        ({"budget": 0.5, "costs": {"n0": 1.0}}, "below the cheapest"),
        ({"k": 2, "epsilon": 1.5}, "epsilon must be in"),
        ({"k": 2, "affinity": np.zeros(9)}, "affinity sums to 0"),
    ],
)
def test_plan_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_campaign(planning_graph(), **kwargs)


def test_plan_time_limit_is_checked_before_the_final_selection() -> None:
    from graph.reach.estimate import WorkLimitError

    graph = planning_graph()
    with pytest.raises(WorkLimitError, match=r"planning needs \d+ RR sets, about .* time limit"):
        plan_campaign(graph, k=2, seed=0, simulations=50, time_limit_s=1e-9)
    plan = plan_campaign(graph, k=2, seed=0, simulations=50, time_limit_s=60.0)
    assert plan == plan_campaign(graph, k=2, seed=0, simulations=50)
