"""Time limits on estimates: a timed pilot, a refusal before the bulk, identical results."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from graph.reach import work_limit
from graph.reach.estimate import WorkLimitError, estimate_reach
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.plan import plan_campaign
from graph.reach.simulate import RawSimulations

SEEDS = [0, 7, 42]


@pytest.fixture
def worlds_run(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The world counts of every kernel run made under a time limit, in order."""
    counts: list[int] = []
    real = work_limit.run_simulations

    def spy(*args: Any, **kwargs: Any) -> RawSimulations:
        counts.append(kwargs["simulations"])
        return real(*args, **kwargs)

    monkeypatch.setattr(work_limit, "run_simulations", spy)
    return counts


@pytest.mark.parametrize("model", ["ic", "lt"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_limited_estimate_equals_the_unlimited_one(
    graph: InfluenceGraph, affinity: np.ndarray, model: str, jobs: int, worlds_run: list[int]
) -> None:
    kwargs: dict[str, Any] = dict(model=model, simulations=3001, seed=17, affinity=affinity)
    unlimited = estimate_reach(graph, SEEDS, jobs=1, **kwargs)
    assert worlds_run == [3001]  # no pilot without a limit
    worlds_run.clear()
    limited = estimate_reach(graph, SEEDS, jobs=jobs, time_limit_s=600.0, **kwargs)
    assert limited == unlimited  # every field, floats exactly
    # The pilot ran: a world per worker, then growing stages; all worlds exactly once.
    assert len(worlds_run) >= 3 and worlds_run[:2] == [jobs, 8 * jobs]
    assert sum(worlds_run) == 3001
    assert limited.per_seed is not None and limited.qualified is not None
    assert limited.reach.mean > len(SEEDS) + 5


def test_an_estimate_over_the_limit_is_refused_before_its_bulk(
    graph: InfluenceGraph, worlds_run: list[int]
) -> None:
    with pytest.raises(
        WorkLimitError,
        match=r"this estimate with 50000 simulations would take about \d+\.\d s, above the "
        r"time limit of 1e-09 s \(0\.0 s left\); lower simulations \(about 0 fit\)",
    ):
        estimate_reach(
            graph,
            SEEDS,
            simulations=50_000,
            max_simulations=50_000,
            seed=1,
            jobs=2,
            time_limit_s=1e-9,
        )
    assert worlds_run == [2, 16]  # the warm-up and the first pilot stage only


def test_the_pilot_ends_when_a_stage_takes_long_enough(
    graph: InfluenceGraph, monkeypatch: pytest.MonkeyPatch, worlds_run: list[int]
) -> None:
    """With a clock that advances 1 s per reading, every stage takes 1 s: the first timed
    stage ends the pilot and the rest runs in one go, projected at 1 s / 8 worlds."""
    clock = SimpleNamespace(perf_counter=itertools.count(0.0, 1.0).__next__)
    monkeypatch.setattr(work_limit, "time", clock)
    monkeypatch.setattr("graph.reach.estimate.time", clock)
    est = estimate_reach(graph, SEEDS, simulations=809, seed=2, jobs=1, time_limit_s=1000.0)
    assert worlds_run == [1, 8, 800]
    assert est == estimate_reach(graph, SEEDS, simulations=809, seed=2, jobs=1)
    # 2 s spent by then (start, stage start, stage end), 800 worlds left at 1/8 s each: 48 s
    # left fit 384 more worlds after the 9 done.
    with pytest.raises(
        WorkLimitError,
        match=r"about 102\.0 s, above the time limit of 50 s \(48\.0 s left\); .*"
        r"\(about 393 fit\)",
    ):
        estimate_reach(graph, SEEDS, simulations=809, seed=2, jobs=1, time_limit_s=50.0)
    # The limit counts from ``started`` when given (a request's start, 3 readings earlier
    # here): 4 s spent by the end of the first stage.
    request_start = clock.perf_counter() - 2.0
    with pytest.raises(WorkLimitError, match=r"about 104\.0 s, .* \(46\.0 s left\)"):
        estimate_reach(
            graph, SEEDS, simulations=809, seed=2, jobs=1, time_limit_s=50.0, started=request_start
        )


def test_a_plan_with_a_generous_limit_equals_the_unlimited_plan(graph: InfluenceGraph) -> None:
    kwargs: dict[str, Any] = dict(k=3, pool_size=40, simulations=300, seed=4, jobs=2)
    assert plan_campaign(graph, time_limit_s=600.0, **kwargs) == plan_campaign(graph, **kwargs)
