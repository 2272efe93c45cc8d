"""Simulations and RR sets on worker processes give exactly the in-process results
(``graph`` and ``affinity``: tests/graph/reach/conftest.py)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from graph.reach import kernel_graph as kg_module
from graph.reach.estimate import estimate_reach
from graph.reach.influence_graph import InfluenceGraph, uniform
from graph.reach.parallel import ProcessPool
from graph.reach.plan import plan_campaign
from tests.graph.reach.runner_checks import (
    PLAN_CASES,
    SEEDS,
    assert_same_estimates,
    assert_same_plans,
    assert_same_rr_sets,
)

# Worker start-up (spawn, numba cache load) takes seconds; a hang must not stall the suite.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pools(graph: InfluenceGraph) -> Iterator[dict[int, ProcessPool]]:
    with ProcessPool(graph, 1) as one, ProcessPool(graph, 2) as two:
        yield {1: one, 2: two}


@pytest.mark.parametrize("model", ["ic", "lt"])
@pytest.mark.parametrize("with_affinity", [False, True])
@pytest.mark.parametrize("attribution", [True, False])
def test_estimate_is_identical_on_processes(
    graph: InfluenceGraph,
    pools: dict[int, ProcessPool],
    affinity: np.ndarray,
    model: str,
    with_affinity: bool,
    attribution: bool,
) -> None:
    assert_same_estimates(
        graph,
        [pools[1], pools[2]],
        affinity,
        model=model,
        with_affinity=with_affinity,
        attribution=attribution,
    )


def test_process_count_starts_a_pool_for_the_call(graph: InfluenceGraph) -> None:
    local = estimate_reach(graph, SEEDS, simulations=200, seed=5, jobs=3)
    assert estimate_reach(graph, SEEDS, simulations=200, seed=5, processes=2) == local
    other_seed = estimate_reach(graph, SEEDS, simulations=200, seed=6, jobs=3)
    assert other_seed.reach != local.reach


class PickleRunner:
    """A stand-in for a cluster runner (README: Ray): the graph is serialised once, and every
    chunk and result crosses a serialisation boundary."""

    def __init__(self, graph: InfluenceGraph, workers: int) -> None:
        self.graph, self.workers = graph, workers
        self.stored = pickle.dumps(kg_module.kernel_graph(graph))

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> list[Any]:
        kg = pickle.loads(self.stored)
        return [pickle.loads(pickle.dumps(fn(kg, pickle.loads(pickle.dumps(i))))) for i in items]


def test_any_runner_gives_the_same_results(graph: InfluenceGraph, affinity: np.ndarray) -> None:
    runner = PickleRunner(graph, 5)
    kwargs = dict(simulations=203, seed=2, affinity=affinity)
    local = estimate_reach(graph, SEEDS, jobs=1, **kwargs)  # type: ignore[arg-type]
    assert estimate_reach(graph, SEEDS, processes=runner, **kwargs) == local  # type: ignore[arg-type]
    plan_kwargs = dict(k=3, pool_size=30, simulations=100, seed=4)
    plan = plan_campaign(graph, jobs=1, **plan_kwargs)  # type: ignore[arg-type]
    assert plan_campaign(graph, processes=runner, **plan_kwargs) == plan  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["ic", "lt"])
def test_rr_sets_are_identical_on_processes(
    graph: InfluenceGraph, pools: dict[int, ProcessPool], affinity: np.ndarray, model: str
) -> None:
    assert_same_rr_sets(graph, list(pools.values()), affinity, model=model)


@pytest.mark.parametrize(("model", "with_affinity", "budget"), PLAN_CASES)
def test_plan_is_identical_on_processes(
    graph: InfluenceGraph,
    pools: dict[int, ProcessPool],
    affinity: np.ndarray,
    model: str,
    with_affinity: bool,
    budget: float | None,
) -> None:
    assert_same_plans(
        graph, pools[2], affinity, model=model, with_affinity=with_affinity, budget=budget
    )


def test_pool_errors(graph: InfluenceGraph, pools: dict[int, ProcessPool]) -> None:
    other = uniform(graph, 0.1)
    with pytest.raises(ValueError, match="started for another graph"):
        estimate_reach(other, SEEDS, simulations=10, processes=pools[1])
    with pytest.raises(ValueError, match="processes must be an int >= 1, got 0"):
        ProcessPool(graph, 0)
    with pytest.raises(ValueError, match="processes must be an int >= 1, got True"):
        estimate_reach(graph, SEEDS, simulations=10, processes=True)
    with pytest.raises(ValueError, match="a Runner or None, got '2'"):
        estimate_reach(graph, SEEDS, simulations=10, processes="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start_method must be"):
        ProcessPool(graph, 1, start_method="fork")


def test_kernel_graph_pickles_each_edge_array_once(graph: InfluenceGraph) -> None:
    kg = kg_module.kernel_graph(graph)
    back = pickle.loads(pickle.dumps(kg))
    for rows, original in ((back.out, kg.out), (back.into, kg.into)):
        assert np.shares_memory(rows.rec_p, rows.rec)  # rec_p is rebuilt as the view of rec
        np.testing.assert_array_equal(rows.rec, original.rec)
        np.testing.assert_array_equal(rows.rec_p, original.rec_p)
    arrays = [a for r in (kg.out, kg.into) for a in (r.ptr, r.rec, r.inv_log, r.scan)]
    payload = sum(a.nbytes for a in arrays) + kg.perm.nbytes + kg.inv.nbytes + kg.in_cum.nbytes
    assert len(pickle.dumps(kg)) < 1.05 * payload  # no second copy of the edge records
