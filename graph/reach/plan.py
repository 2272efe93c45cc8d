"""Campaign planning: choose influencers from a candidate pool to maximise (qualified) reach.

* Count ``k``: IMM (Tang, Shi & Xiao, "Influence Maximization in Near-Linear Time: A Martingale
  Approach", SIGMOD 2015, https://doi.org/10.1145/2723372.2723734). Reverse-reachable (RR)
  sets are sampled until, with probability ``>= 1 - n^-ell``, greedy max-coverage is a
  ``(1 - 1/e - epsilon)``-approximation of the best ``k`` candidates. As recommended by
  Chen ("An Issue in the Martingale Analysis of the Influence Maximization Algorithm IMM",
  2018), the final selection uses fresh RR sets, independent of the bound-estimation phase.
* Budget with a cost per influencer: the better of CELF's two greedy runs, unit-cost and
  cost-benefit (Leskovec et al., "Cost-effective Outbreak Detection in Networks", KDD 2007),
  which guarantees ``1/2 (1 - 1/e)`` of the optimum of the coverage objective; the RR-set count
  is IMM's for ``k`` = the most influencers the budget can buy.
* Qualified reach (``affinity`` given): RR roots are drawn with probability proportional to
  affinity, so coverage estimates ``sum over reached users of affinity`` (the weighted
  RIS estimator, e.g. Li et al., "Real-time Targeted Influence Maximization for Online
  Advertisements", VLDB 2015); IMM's bounds then use ``Gamma = sum of affinity`` in place of
  the node count.

Safeguard: the greedy set and the top-followers baseline are compared by Monte-Carlo on
independent paired worlds (not the ones reported); if the baseline does better, it is returned
(``method`` gets the suffix ``+baseline``). RR-set noise can hide differences of a fraction of
a percent between near-equivalent sets; paired worlds resolve them.

The default candidate pool is the ``pool_size`` accounts with the most followers (influence
out-degree). The chosen set and the top-followers baseline (same size, or the most-followed
accounts that fit the budget) are both re-estimated by Monte-Carlo with the same worlds.

:func:`plan_campaign` runs these steps in order: check the options, order the candidate pool
(:func:`_candidate_pool`) and size the seed set (:func:`_seed_count`), count the RR sets IMM
needs (:func:`graph.reach.imm.imm_sample_count`) and check the time limit, select on fresh RR
sets (:func:`_select`), apply the safeguard (:func:`_safeguard`), estimate both sets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.reach.estimate import (
    Model,
    ReachEstimate,
    check_affinity,
    check_model_graph,
    estimate_reach,
    make_seed,
    resolve_seeds,
)
from graph.reach.imm import imm_sample_count
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.parallel import process_pool
from graph.reach.rr_sets import RRCollection
from graph.reach.runners import Runner, resolve_runner
from graph.reach.work_limit import WorkLimitError, simulate_within

#: Most seeds a plan may choose.
MAX_PLAN_SEEDS: Final[int] = 1000
_RR_STREAM_OFFSET: Final[int] = 1 << 40


@dataclass(frozen=True)
class PlannedSeed:
    """A chosen influencer, in selection order, with its estimated marginal gain (RR-set
    estimate, in reach or qualified-reach units) and its cost (budget plans)."""

    seed: str
    gain: float
    cost: float | None


@dataclass(frozen=True)
class CampaignPlan:
    """The result of :func:`plan_campaign`.

    Attributes:
        objective: ``"reach"`` or ``"qualified"``.
        method: ``"imm"`` (count), ``"celf-unit-cost"`` or ``"celf-cost-benefit"`` (budget);
            suffix ``"+baseline"`` when the top-followers set did better on independent
            paired Monte-Carlo worlds and was kept instead.
        chosen: The chosen influencers in order.
        estimate: Monte-Carlo estimate of the chosen set.
        baseline: The top-followers baseline's seeds.
        baseline_estimate: Its Monte-Carlo estimate (same worlds).
        ratio: Chosen objective mean / baseline objective mean.
        rr_sets: RR sets used for the final selection.
        guarantee: Approximation factor of the selection on the sampled objective.
        total_cost: Sum of chosen costs (budget plans).
        seed: Base random seed used.
    """

    objective: str
    method: str
    chosen: list[PlannedSeed]
    estimate: ReachEstimate
    baseline: list[str]
    baseline_estimate: ReachEstimate
    ratio: float
    rr_sets: int
    guarantee: float
    total_cost: float | None
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_followers(graph: InfluenceGraph, count: int) -> NDArray[np.int32]:
    """The ``count`` nodes with the most followers (out-degree), ties by lower index."""
    order = np.lexsort((np.arange(graph.num_nodes), -graph.out_degree))
    return order[: max(0, count)].astype(np.int32)


def _check_options(
    k: int | None, budget: float | None, epsilon: float, ell: float, max_rr_sets: int
) -> None:
    """Raises ValueError on inconsistent or out-of-range planning options."""
    if (k is None) == (budget is None):
        raise ValueError(f"give exactly one of k or budget, got k={k!r}, budget={budget!r}")
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon!r}")
    if ell <= 0:
        raise ValueError(f"ell must be > 0, got {ell!r}")
    if max_rr_sets < 1:
        raise ValueError(f"max_rr_sets must be >= 1, got {max_rr_sets!r}")


def _candidate_pool(
    graph: InfluenceGraph,
    candidates: Sequence[str | int] | None,
    budget: float | None,
    costs: Mapping[str, float] | Mapping[int, float] | None,
    pool_size: int,
) -> NDArray[np.int32]:
    """The candidate nodes, most followers first (tie-breaks and the baseline follow this
    order): ``candidates``, else the users in ``costs`` (budget mode), else the ``pool_size``
    most-followed accounts."""
    if candidates is not None:
        cand = resolve_seeds(graph, candidates)
    elif budget is not None and costs is not None:
        cand = resolve_seeds(graph, list(costs))
    else:
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        cand = top_followers(graph, pool_size)
    return cand[np.lexsort((cand, -graph.out_degree[cand]))]


def _seed_count(
    graph: InfluenceGraph,
    cand: NDArray[np.int32],
    k: int | None,
    budget: float | None,
    costs: Mapping[str, float] | Mapping[int, float] | None,
) -> tuple[int, NDArray[np.float64]]:
    """``(seeds to plan for, cost per candidate)``: ``k``, or the most candidates the budget
    can buy (unit costs in count mode).

    Raises:
        ValueError: on a bad ``k``, a budget without costs, a missing or non-positive cost, or
            a budget below the cheapest candidate.
    """
    if budget is None:
        limit = min(cand.shape[0], MAX_PLAN_SEEDS)
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= limit:
            raise ValueError(
                f"k must be an int in [1, {limit}] (candidates: {cand.shape[0]}), got {k!r}"
            )
        return int(k), np.ones(cand.shape[0])
    if costs is None:
        raise ValueError("budget mode needs costs (user -> cost)")
    if not budget > 0:
        raise ValueError(f"budget must be > 0, got {budget!r}")
    cost_of = {graph.node(u): float(c) for u, c in costs.items()}
    missing = [int(v) for v in cand if int(v) not in cost_of]
    if missing:
        raise ValueError(f"costs has no entry for candidate {graph.label(missing[0])!r}")
    cand_costs = np.array([cost_of[int(v)] for v in cand], dtype=np.float64)
    bad = ~(np.isfinite(cand_costs) & (cand_costs > 0))
    if bad.any():
        v = int(cand[np.flatnonzero(bad)[0]])
        raise ValueError(f"costs[{graph.label(v)!r}] = {cost_of[v]!r} must be > 0")
    affordable = int(np.searchsorted(np.cumsum(np.sort(cand_costs)), budget, side="right"))
    if affordable == 0:
        cheapest = float(cand_costs.min())
        raise ValueError(f"budget {budget!r} is below the cheapest candidate cost {cheapest!r}")
    return min(affordable, MAX_PLAN_SEEDS), cand_costs


def _select(
    final: RRCollection,
    cand: NDArray[np.int32],
    cand_costs: NDArray[np.float64],
    k_eff: int,
    budget: float | None,
    epsilon: float,
) -> tuple[NDArray[np.int32], NDArray[np.int64], str, float, NDArray[np.int32]]:
    """Greedy selection on the final RR sets: IMM for a count, the better of CELF's unit-cost
    and cost-benefit runs for a budget.

    Returns:
        ``(chosen candidate positions, their gains in RR sets, method, guarantee, baseline
        nodes)``; the baseline is the top-``k`` candidates, or the most-followed ones that
        fit the budget.
    """
    if budget is None:
        chosen, gains = final.cover(cand, cand_costs, float(k_eff), k_eff, False)
        return chosen, gains, "imm", 1.0 - 1.0 / math.e - epsilon, cand[:k_eff]
    uc = final.cover(cand, cand_costs, float(budget), MAX_PLAN_SEEDS, False)
    cb = final.cover(cand, cand_costs, float(budget), MAX_PLAN_SEEDS, True)
    if int(cb[1].sum()) > int(uc[1].sum()):
        (chosen, gains), method = cb, "celf-cost-benefit"
    else:
        (chosen, gains), method = uc, "celf-unit-cost"
    picked, spent = [], 0.0
    for i, c in enumerate(cand_costs):
        if spent + c <= budget + 1e-12:
            picked.append(i)
            spent += c
    return chosen, gains, method, 0.5 * (1.0 - 1.0 / math.e), cand[picked]


def _safeguard(
    final: RRCollection,
    cand: NDArray[np.int32],
    cand_costs: NDArray[np.float64],
    chosen: NDArray[np.int32],
    gains: NDArray[np.int64],
    baseline: NDArray[np.int32],
    *,
    simulations: int,
    base: int,
    weights: NDArray[np.float64] | None,
    time_limit_s: float | None,
    started: float,
) -> tuple[NDArray[np.int32], NDArray[np.int64], bool]:
    """Compare the greedy set with the top-followers baseline on independent Monte-Carlo
    worlds (paired: both sets see the same worlds, a different stream from the reported
    estimates) and keep the baseline when it does better on average. The runs are held to
    ``time_limit_s`` from ``started`` (:func:`graph.reach.work_limit.simulate_within`).

    Returns:
        ``(chosen positions, gains, whether the baseline was kept)``.
    """
    positions = {int(v): i for i, v in enumerate(cand)}
    base_pos = np.array([positions[int(v)] for v in baseline], dtype=np.int32)
    if set(base_pos.tolist()) == set(chosen.tolist()):
        return chosen, gains, False
    check_seed = (base ^ 0x5DEECE66D) & 0xFFFFFFFFFFFFFFFF
    values = [
        simulate_within(
            final.graph,
            nodes,
            lt=final.lt,
            simulations=simulations,
            base_seed=check_seed,
            attribute=False,
            affinity=weights,
            runner=final.runner,
            time_limit_s=time_limit_s,
            started=started,
            what="this plan's baseline check",
        )
        for nodes in (cand[chosen], cand[base_pos])
    ]
    per_world = [v.reached if v.qualified is None else v.qualified for v in values]
    if float(np.mean(per_world[1] - per_world[0])) <= 0:
        return chosen, gains, False
    check = final.cover(
        cand[base_pos],
        cand_costs[base_pos],
        float(cand_costs[base_pos].sum()),
        len(base_pos),
        False,
    )
    return base_pos[check[0]], check[1], True


def plan_campaign(
    graph: InfluenceGraph,
    *,
    k: int | None = None,
    budget: float | None = None,
    costs: Mapping[str, float] | Mapping[int, float] | None = None,
    candidates: Sequence[str | int] | None = None,
    model: Model = "ic",
    affinity: NDArray[np.floating] | None = None,
    pool_size: int = 1000,
    epsilon: float = 0.5,
    ell: float = 1.0,
    simulations: int = 1000,
    seed: int | None = None,
    max_rr_sets: int = 5_000_000,
    time_limit_s: float | None = None,
    started: float | None = None,
    jobs: int | None = None,
    processes: int | Runner | None = None,
) -> CampaignPlan:
    """Choose influencers maximising reach (or qualified reach when ``affinity`` is given).

    Args:
        graph: Influence graph with probabilities.
        k: Number of influencers (count mode; exclusive with ``budget``).
        budget: Total budget (budget mode; needs ``costs``).
        costs: Cost per candidate (id or index -> cost > 0). In budget mode the default
            candidate pool is the users in ``costs``.
        candidates: Candidate pool; default: the ``pool_size`` most-followed accounts.
        model: ``"ic"`` or ``"lt"``.
        affinity: Optional ``float[num_nodes]`` >= 0; the objective becomes qualified reach.
        pool_size: Size of the default candidate pool.
        epsilon: IMM's approximation slack (``0 < epsilon < 1``).
        ell: IMM's confidence exponent (success probability ``>= 1 - n^-ell``).
        simulations: Monte-Carlo simulations for the final estimates.
        seed: Base random seed (RR sets and simulations).
        max_rr_sets: Cap on RR sets (the guarantee may not hold when the cap binds).
        time_limit_s: Optional limit on the call's time: after IMM's sampling phase, the time
            of the final selection is projected from the sampling rate, and the call fails
            (before doing it) when the total would exceed the limit; the Monte-Carlo runs
            after it get what is left, each refused (before its bulk) the same way as
            :func:`graph.reach.estimate.estimate_reach`'s. The plan does not depend on it.
        started: The ``time.perf_counter()`` reading the limit counts from (default: this
            call's start; a server passes its request's start to bound the whole request).
        jobs: Worker threads.
        processes: Run RR sets and simulations elsewhere instead: a count of worker
            processes (started for this call), or a started
            :class:`~graph.reach.runners.Runner` for ``graph`` (e.g. a
            :class:`~graph.reach.parallel.ProcessPool`). The plan does not depend on ``jobs``
            or ``processes``.

    Returns:
        The plan with the chosen seeds, their estimate and the baseline's.

    Raises:
        ValueError: on inconsistent or out-of-range arguments, unknown candidates, missing
            costs, or invalid probabilities / affinity.
        WorkLimitError: if the projected time exceeds ``time_limit_s``.
    """
    started = time.perf_counter() if started is None else started
    _check_options(k, budget, epsilon, ell, max_rr_sets)
    lt = check_model_graph(graph, model)
    check_affinity(graph, affinity)
    base = make_seed(seed)
    cand = _candidate_pool(graph, candidates, budget, costs, pool_size)
    k_eff, cand_costs = _seed_count(graph, cand, k, budget, costs)
    weights = None if affinity is None else np.asarray(affinity, dtype=np.float64)
    scale = float(graph.num_nodes) if weights is None else float(weights.sum())
    if scale <= 0:
        raise ValueError("affinity sums to 0: no user has positive affinity")

    with process_pool(graph, processes) as pool:
        runner = resolve_runner(graph, jobs, pool)
        if time_limit_s is not None:  # load the compiled kernels first: only sampling is timed
            warm = RRCollection(graph, lt, base, 0, weights, runner)
            warm.grow(runner.workers)  # one set per worker, so every worker loads them
            warm.cover(cand[:1], cand_costs[:1], 1.0, 1, False)
        sampling = time.perf_counter()
        theta, sampled = imm_sample_count(
            graph, lt, base, weights, scale, cand, k_eff, epsilon, ell, max_rr_sets, runner
        )
        if time_limit_s is not None:
            now = time.perf_counter()
            projected = (now - started) + (now - sampling) / max(sampled, 1) * theta
            if projected > time_limit_s:
                raise WorkLimitError(
                    f"planning needs {theta} RR sets, about {projected:.1f} s, above the time "
                    f"limit of {time_limit_s:g} s; lower k or the candidate pool, or raise epsilon"
                )
        final = RRCollection(graph, lt, base, _RR_STREAM_OFFSET, weights, runner)
        final.grow(theta)
        chosen, gains, method, guarantee, baseline = _select(
            final, cand, cand_costs, k_eff, budget, epsilon
        )
        chosen, gains, kept_baseline = _safeguard(
            final,
            cand,
            cand_costs,
            chosen,
            gains,
            baseline,
            simulations=simulations,
            base=base,
            weights=weights,
            time_limit_s=time_limit_s,
            started=started,
        )
        if kept_baseline:
            method += "+baseline"
        seeds = cand[chosen]

        def estimate(nodes: NDArray[np.int32]) -> ReachEstimate:
            return estimate_reach(
                graph,
                nodes.tolist(),
                model=model,
                simulations=simulations,
                seed=base,
                affinity=affinity,
                attribution=False,
                time_limit_s=time_limit_s,
                started=started,
                jobs=jobs,
                processes=pool,
            )

        est = estimate(seeds)
        if set(seeds.tolist()) == set(baseline.tolist()):  # same set, same worlds: same estimate
            base_est = replace(est, seeds=[graph.label(int(v)) for v in baseline])
        else:
            base_est = estimate(baseline)
    value = est.qualified if affinity is not None else est.reach
    base_value = base_est.qualified if affinity is not None else base_est.reach
    assert value is not None and base_value is not None
    unit = scale / final.size
    return CampaignPlan(
        objective="reach" if affinity is None else "qualified",
        method=method,
        chosen=[
            PlannedSeed(
                seed=graph.label(int(cand[c])),
                gain=float(g) * unit,
                cost=None if budget is None else float(cand_costs[c]),
            )
            for c, g in zip(chosen, gains, strict=True)
        ],
        estimate=est,
        baseline=[graph.label(int(v)) for v in baseline],
        baseline_estimate=base_est,
        ratio=value.mean / base_value.mean if base_value.mean > 0 else math.inf,
        rr_sets=final.size,
        guarantee=guarantee,
        total_cost=None if budget is None else float(cand_costs[chosen].sum()),
        seed=base,
    )
