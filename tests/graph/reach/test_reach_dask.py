"""Simulations, RR sets and plans on a Dask cluster (two worker processes on loopback) give
exactly the in-process results (``graph`` and ``affinity``: tests/graph/reach/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from distributed import Client, LocalCluster

from graph.reach.dask_runner import DaskRunner
from graph.reach.estimate import estimate_reach
from graph.reach.influence_graph import InfluenceGraph, uniform
from graph.reach.plan import plan_campaign
from graph.reach.rr_sets import generate_rr_sets

# Cluster start-up (spawned workers, numba cache load) takes seconds; a hang must not stall CI.
pytestmark = pytest.mark.timeout(300)

SEEDS = [0, 7, 42, 300]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def runner(graph: InfluenceGraph, client: Client) -> Iterator[DaskRunner]:
    with DaskRunner(graph, client) as runner:
        yield runner


def test_runner_uses_every_worker_thread(runner: DaskRunner) -> None:
    assert runner.workers == 2


@pytest.mark.parametrize(
    ("model", "with_affinity", "attribution"),
    [("ic", True, True), ("ic", False, False), ("lt", True, False), ("lt", False, True)],
)
def test_estimate_is_identical_on_the_cluster(
    graph: InfluenceGraph,
    runner: DaskRunner,
    affinity: np.ndarray,
    model: str,
    with_affinity: bool,
    attribution: bool,
) -> None:
    kwargs = dict(
        model=model,
        simulations=301,  # unequal chunks
        seed=17,
        affinity=affinity if with_affinity else None,
        attribution=attribution,
    )
    local = estimate_reach(graph, SEEDS, jobs=1, **kwargs)  # type: ignore[arg-type]
    remote = estimate_reach(graph, SEEDS, processes=runner, **kwargs)  # type: ignore[arg-type]
    assert remote == local  # every field, floats compared exactly
    assert local.reach.mean > len(SEEDS) + 5 and len(local.by_hop) > 2
    assert (local.per_seed is not None) == attribution
    assert (local.qualified is not None) == with_affinity


@pytest.mark.parametrize("model", ["ic", "lt"])
def test_rr_sets_are_identical_on_the_cluster(
    graph: InfluenceGraph, runner: DaskRunner, affinity: np.ndarray, model: str
) -> None:
    for weights in (None, affinity):
        kwargs = dict(lt=model == "lt", begin=1000, end=3001, base_seed=9, root_weights=weights)
        ptr, nodes = generate_rr_sets(graph, jobs=1, **kwargs)  # type: ignore[arg-type]
        ptr_d, nodes_d = generate_rr_sets(graph, runner=runner, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_array_equal(ptr_d, ptr)
        np.testing.assert_array_equal(nodes_d, nodes)
        assert ptr.shape[0] == 2002 and nodes.shape[0] > 2001  # some sets beyond the root


@pytest.mark.parametrize(
    ("model", "with_affinity", "budget"),
    [("ic", False, None), ("lt", False, None), ("ic", True, None), ("ic", False, 7.0)],
)
def test_plan_is_identical_on_the_cluster(
    graph: InfluenceGraph,
    runner: DaskRunner,
    affinity: np.ndarray,
    model: str,
    with_affinity: bool,
    budget: float | None,
) -> None:
    costs = {f"u{i}": 1.0 + (i % 3) for i in range(60)} if budget else None
    kwargs = dict(
        k=None if budget else 5,
        budget=budget,
        costs=costs,
        model=model,
        affinity=affinity if with_affinity else None,
        pool_size=60,
        simulations=200,
        seed=21,
    )
    local = plan_campaign(graph, jobs=1, **kwargs)  # type: ignore[arg-type]
    assert plan_campaign(graph, processes=runner, **kwargs) == local  # type: ignore[arg-type]
    assert len(local.chosen) >= 3 and local.rr_sets > 100


def test_runner_errors(graph: InfluenceGraph, client: Client, runner: DaskRunner) -> None:
    with pytest.raises(ValueError, match="started for another graph"):
        estimate_reach(uniform(graph, 0.1), SEEDS, simulations=10, processes=runner)
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        DaskRunner(graph, client, workers=0)
