"""Monte-Carlo reach estimates for a seed set under Independent Cascade or Linear Threshold.

**Reach includes the seeds themselves**: a simulation's reach is the number of distinct users
active at the end, seeds included (hop 0 of ``by_hop`` is the seed count, so the audience
beyond the seeds is ``reach.mean - len(seeds)``). This is the usual influence-spread
convention (Kempe, Kleinberg & Tardos, KDD 2003).

Per-seed attribution uses the live-edge view: in each simulated world, every reached user is
labelled with the set of seeds that reach it. Then, per world and hence in expectation:

* ``alone[i]`` = users reached by seed ``i`` (= its reach as the only seed in that world);
* ``marginal[i]`` = users reached *only* by seed ``i`` = ``reach(S) - reach(S \\ {i})``;
* ``overlap[i, j]`` = users reached by both ``i`` and ``j`` (``overlap[i, i] = alone[i]``);
* ``shared`` = users reached by two or more seeds.

Sum rules (exact per world, so they hold exactly for the sample means):
``reach = sum(marginal) + shared`` and ``sum(alone) = sum over reached users of the number of
seeds reaching them`` (``>= reach``, with equality iff audiences are disjoint).

Confidence intervals are normal-approximation 95% intervals ``mean +- 1.96 * SE`` with
``SE = sample std / sqrt(simulations)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from graph.reach.influence_graph import LT_TOLERANCE, InfluenceGraph
from graph.reach.parallel import process_pool
from graph.reach.runners import Runner, resolve_runner
from graph.reach.work_limit import WorkLimitError as WorkLimitError
from graph.reach.work_limit import simulate_within

Model = Literal["ic", "lt"]
MODELS: Final[tuple[str, ...]] = ("ic", "lt")
#: Bitmask attribution supports at most this many seeds.
MAX_ATTRIBUTED_SEEDS: Final[int] = 64
Z95: Final[float] = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo mean with its standard error and 95% confidence interval."""

    mean: float
    std_error: float
    ci_low: float
    ci_high: float

    @classmethod
    def from_samples(cls, samples: NDArray[np.floating] | NDArray[np.integer]) -> Estimate:
        x = np.asarray(samples, dtype=np.float64)
        mean = float(x.mean()) if x.size else 0.0
        se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
        return cls(mean=mean, std_error=se, ci_low=mean - Z95 * se, ci_high=mean + Z95 * se)


@dataclass(frozen=True)
class SeedContribution:
    """One seed's audience: ``alone`` (its reach as the only seed) and ``marginal`` (users
    reached by no other seed, i.e. what the set loses without it)."""

    seed: str
    alone: Estimate
    marginal: Estimate


@dataclass(frozen=True)
class ReachEstimate:
    """The result of :func:`estimate_reach` (all counts include the seeds; see module doc).

    Attributes:
        model: ``"ic"`` or ``"lt"``.
        simulations: Number of simulated worlds.
        seeds: Seed ids in the order given.
        reach: Expected number of distinct users reached.
        by_hop: ``by_hop[h]`` = expected users first reached at hop ``h`` (``by_hop[0]`` = seeds).
        per_seed: Alone / marginal reach per seed (``None`` without attribution).
        overlap: ``overlap[i][j]`` = expected users reached by both seed ``i`` and ``j``.
        shared: Expected users reached by two or more seeds.
        qualified: Expected sum of affinity over reached users (``None`` without affinity).
        seed: The base seed used (pass it again to reproduce the estimate).
    """

    model: str
    simulations: int
    seeds: list[str]
    reach: Estimate
    by_hop: list[float]
    per_seed: list[SeedContribution] | None
    overlap: list[list[float]] | None
    shared: Estimate | None
    qualified: Estimate | None
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def resolve_seeds(graph: InfluenceGraph, seeds: Sequence[str | int]) -> NDArray[np.int32]:
    """Node indices of ``seeds`` (ids or indices).

    Raises:
        ValueError: if ``seeds`` is empty, has an unknown user or a duplicate.
    """
    if isinstance(seeds, (str, bytes)):
        raise ValueError(f"seeds must be a sequence of users, got the string {seeds!r}")
    if len(seeds) == 0:
        raise ValueError("seeds is empty: give at least one user")
    nodes = [graph.node(s) for s in seeds]
    if len(set(nodes)) != len(nodes):
        seen: set[int] = set()
        for s, v in zip(seeds, nodes, strict=True):
            if v in seen:
                raise ValueError(f"seeds contains {s!r} more than once")
            seen.add(v)
    return np.asarray(nodes, dtype=np.int32)


def check_model_graph(graph: InfluenceGraph, model: str) -> bool:
    """Validate ``model`` against the graph's probabilities; returns ``True`` for LT.

    Raises:
        ValueError: for an unknown model, missing probabilities, or LT incoming weights
            summing above 1.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if graph.prob is None:
        raise ValueError(
            "graph has no edge probabilities; assign them with uniform(), weighted_cascade() "
            "or learned_from_log()"
        )
    if model == "lt":
        sums = graph.in_weight_sums()
        over = np.flatnonzero(sums > 1.0 + LT_TOLERANCE)
        if over.size:
            v = int(over[0])
            raise ValueError(
                f"LT needs incoming weights summing to <= 1, but node {graph.label(v)!r} has "
                f"{sums[v]:.6g}; use lt_normalized(graph) or weighted_cascade(graph)"
            )
    return model == "lt"


def check_affinity(graph: InfluenceGraph, affinity: NDArray[np.floating] | None) -> None:
    """Raises ValueError unless ``affinity`` is ``None`` or one finite value >= 0 per node."""
    if affinity is None:
        return
    a = np.asarray(affinity)
    if a.shape != (graph.num_nodes,):
        raise ValueError(f"affinity must have shape ({graph.num_nodes},), got {a.shape}")
    bad = ~(np.isfinite(a) & (a >= 0))
    if bad.any():
        v = int(np.flatnonzero(bad)[0])
        raise ValueError(f"affinity[{v}] = {float(a[v])!r} must be finite and >= 0")


def make_seed(seed: int | None) -> int:
    """``seed`` itself, or fresh entropy when ``None`` (reported back so runs can be redone)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF  # type: ignore[arg-type]
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed) & 0xFFFFFFFFFFFFFFFF


def estimate_reach(
    graph: InfluenceGraph,
    seeds: Sequence[str | int],
    *,
    model: Model = "ic",
    simulations: int = 1000,
    seed: int | None = None,
    affinity: NDArray[np.floating] | None = None,
    attribution: bool = True,
    max_simulations: int = 100_000,
    time_limit_s: float | None = None,
    started: float | None = None,
    jobs: int | None = None,
    processes: int | Runner | None = None,
) -> ReachEstimate:
    """Estimate the reach of ``seeds`` by Monte-Carlo simulation of live-edge worlds.

    Args:
        graph: Influence graph with probabilities (IC) or weights summing to <= 1 per node (LT).
        seeds: Seed users (ids, or node indices).
        model: ``"ic"`` (Independent Cascade) or ``"lt"`` (Linear Threshold).
        simulations: Number of simulated worlds (2 .. ``max_simulations``).
        seed: Base random seed; the same seed gives the same worlds for any seed set.
        affinity: Optional ``float[num_nodes]`` >= 0 (e.g. calibrated purchase probability for
            a target item); adds the qualified reach ``E[sum of affinity over reached users]``.
        attribution: Compute per-seed alone / marginal reach and overlaps (<= 64 seeds).
        max_simulations: Upper bound on ``simulations``.
        time_limit_s: Optional limit on the call's time: the first worlds are a timed pilot,
            the time of the rest is projected from its rate, and the call fails (before
            running the rest) when the total would exceed the limit
            (:mod:`graph.reach.work_limit`); the estimate does not depend on it.
        started: The ``time.perf_counter()`` reading the limit counts from (default: this
            call's start; a server passes its request's start to bound the whole request).
        jobs: Worker threads (default: available CPUs); results do not depend on it.
        processes: Run elsewhere instead: a count of worker processes (started for this
            call), or a started :class:`~graph.reach.runners.Runner` for ``graph`` (e.g. a
            :class:`~graph.reach.parallel.ProcessPool`); results do not depend on it either.

    Returns:
        A :class:`ReachEstimate`; counts include the seeds.

    Raises:
        ValueError: on unknown or duplicate seeds, an empty seed set, a bad model, missing or
            invalid probabilities, bad affinity, ``simulations`` out of bounds, or a pool
            started for another graph.
        WorkLimitError: if the projected time exceeds ``time_limit_s``.

    Examples:
        >>> from graph.reach.influence_graph import uniform
        >>> g = uniform(InfluenceGraph.from_edges([0, 1], [1, 2], 3), 1.0)
        >>> estimate_reach(g, [0], simulations=10, seed=0).reach.mean
        3.0
    """
    started = time.perf_counter() if started is None else started
    if not isinstance(simulations, (int, np.integer)) or not 2 <= simulations <= max_simulations:
        raise ValueError(
            f"simulations must be an int in [2, {max_simulations}], got {simulations!r}"
        )
    lt = check_model_graph(graph, model)
    nodes = resolve_seeds(graph, seeds)
    if attribution and nodes.shape[0] > MAX_ATTRIBUTED_SEEDS:
        raise ValueError(
            f"attribution supports at most {MAX_ATTRIBUTED_SEEDS} seeds, got {nodes.shape[0]}; "
            "pass attribution=False"
        )
    check_affinity(graph, affinity)
    base = make_seed(seed)
    with process_pool(graph, processes) as pool:
        raw = simulate_within(
            graph,
            nodes,
            lt=lt,
            simulations=int(simulations),
            base_seed=base,
            attribute=attribution,
            affinity=None if affinity is None else np.asarray(affinity, dtype=np.float64),
            runner=resolve_runner(graph, jobs, pool),
            time_limit_s=time_limit_s,
            started=started,
            what="this estimate",
        )
    labels = [graph.label(int(v)) for v in nodes]
    per_seed = overlap = shared = None
    if raw.alone is not None and raw.marginal is not None and raw.overlap_sum is not None:
        per_seed = [
            SeedContribution(
                seed=label,
                alone=Estimate.from_samples(raw.alone[:, i]),
                marginal=Estimate.from_samples(raw.marginal[:, i]),
            )
            for i, label in enumerate(labels)
        ]
        upper = np.triu(raw.overlap_sum)
        sym = upper + np.triu(upper, 1).T
        overlap = (sym / simulations).tolist()
        shared = Estimate.from_samples(raw.shared) if raw.shared is not None else None
    return ReachEstimate(
        model=model,
        simulations=int(simulations),
        seeds=labels,
        reach=Estimate.from_samples(raw.reached),
        by_hop=(raw.hop_sum / simulations).tolist(),
        per_seed=per_seed,
        overlap=overlap,
        shared=shared,
        qualified=None if raw.qualified is None else Estimate.from_samples(raw.qualified),
        seed=base,
    )
