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
from tests.graph.reach.runner_checks import (
    PLAN_CASES,
    SEEDS,
    assert_same_estimates,
    assert_same_plans,
    assert_same_rr_sets,
)

# Cluster start-up (spawned workers, numba cache load) takes seconds; a hang must not stall CI.
pytestmark = pytest.mark.timeout(300)


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
    assert_same_estimates(
        graph, [runner], affinity, model=model, with_affinity=with_affinity, attribution=attribution
    )


@pytest.mark.parametrize("model", ["ic", "lt"])
def test_rr_sets_are_identical_on_the_cluster(
    graph: InfluenceGraph, runner: DaskRunner, affinity: np.ndarray, model: str
) -> None:
    assert_same_rr_sets(graph, [runner], affinity, model=model)


@pytest.mark.parametrize(("model", "with_affinity", "budget"), PLAN_CASES)
def test_plan_is_identical_on_the_cluster(
    graph: InfluenceGraph,
    runner: DaskRunner,
    affinity: np.ndarray,
    model: str,
    with_affinity: bool,
    budget: float | None,
) -> None:
    assert_same_plans(
        graph, runner, affinity, model=model, with_affinity=with_affinity, budget=budget
    )


def test_runner_errors(graph: InfluenceGraph, client: Client, runner: DaskRunner) -> None:
    with pytest.raises(ValueError, match="started for another graph"):
        estimate_reach(uniform(graph, 0.1), SEEDS, simulations=10, processes=runner)
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        DaskRunner(graph, client, workers=0)
