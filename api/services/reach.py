"""Reach services for the API and the CLI: affinity calibration and :class:`ReachService`.

:class:`ReachService` holds the snapshot's influence graph, builds (and caches) its edge
probabilities per setting and the per-item affinities, checks ids (unknown users / items raise
:class:`UnknownEntityError`, which the API answers with 404) and bounds the work of a request
by a *pilot*: a few simulations are timed first and the full request is refused with
:class:`graph.reach.WorkLimitError` (422) when the projected time exceeds the limit. A running
numba kernel cannot be interrupted, so the limit is enforced by projection, not preemption.

Calibration: **percentile rank among all users for that item**. With LightGCN scores
``s_u = user_embeddings[u] . item_embeddings[i]``, user ``u``'s affinity is the fraction of
the other users who score lower for item ``i`` (ties count half)::

    affinity_u = (rank_u - 1) / (num_users - 1)   # rank_u: average rank, 1 = lowest score

so it lies in ``[0, 1]``, is 0.5 for the median user and 1 for the user the model ranks first.
It is scale-free (inner products of different items and models are not comparable, ranks
are) and robust to outlying scores. It is a relative propensity, not a purchase probability:
qualified reach is "reached users weighted by how strongly the model prefers them for the item
among all users"; a random audience has qualified reach about half its reach.

Segments: a request may target a segment (a set of users, e.g. the ``active`` users of
:meth:`api.services.profile.ProfileService.segment_members`). Each user's *target weight* is
then their affinity for the item (1 without an item) times their segment membership (1 or 0),
and qualified reach is the expected sum of target weights over reached users: with a segment
and no item, the expected number of segment members reached ("reach within a segment").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import rankdata

from gnn.checkpoint import Checkpoint
from graph.reach.estimate import (
    Estimate,
    Model,
    ReachEstimate,
    WorkLimitError,
    check_model_graph,
    estimate_reach,
    make_seed,
    resolve_seeds,
)
from graph.reach.influence_graph import (
    InfluenceGraph,
    learned_from_log,
    lt_normalized,
    uniform,
    weighted_cascade,
)
from graph.reach.plan import CampaignPlan, plan_campaign, top_followers
from graph.reach.simulate import run_simulations
from graph.snapshot import Snapshot

ProbabilityKind = Literal["uniform", "weighted_cascade", "learned"]
PROBABILITY_KINDS: Final[tuple[str, ...]] = ("uniform", "weighted_cascade", "learned")
#: Simulations timed by the pilot that projects a request's cost.
PILOT_SIMULATIONS: Final[int] = 8
_CACHE_SIZE: Final[int] = 8


def percentile_affinity(scores: NDArray[np.floating]) -> NDArray[np.float64]:
    """Percentile-rank calibration of one item's scores over users, in ``[0, 1]``.

    Raises:
        ValueError: if ``scores`` is not 1-D or has a non-finite value.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if not np.isfinite(s).all():
        bad = int(np.flatnonzero(~np.isfinite(s))[0])
        raise ValueError(f"scores[{bad}] = {float(s[bad])!r} is not finite")
    if s.shape[0] < 2:
        return np.full(s.shape[0], 0.5)
    return (rankdata(s, method="average") - 1.0) / (s.shape[0] - 1.0)


def item_affinity(checkpoint: Checkpoint, item_id: str) -> NDArray[np.float64]:
    """Affinity of every checkpoint user (checkpoint order) for ``item_id``.

    Raises:
        ValueError: if the item is not in the checkpoint.
    """
    try:
        item = checkpoint.item_ids.index(item_id)
    except ValueError:
        raise ValueError(f"item_id {item_id!r} is not known to the model") from None
    with torch.inference_mode():
        scores = torch.mv(
            checkpoint.user_embeddings.to(torch.float32),
            checkpoint.item_embeddings[item].to(torch.float32),
        )
    return percentile_affinity(scores.numpy())


def graph_affinity(
    graph: InfluenceGraph, checkpoint: Checkpoint, item_id: str, *, missing: float = 0.0
) -> NDArray[np.float64]:
    """:func:`item_affinity` aligned with the influence graph's nodes (by user id); users the
    model does not know get ``missing``.

    Raises:
        ValueError: if the graph has no ids, the item is unknown or ``missing`` is outside
            ``[0, 1]``.
    """
    if graph.ids is None:
        raise ValueError("graph has no user ids; build it with InfluenceGraph.from_snapshot")
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing must be in [0, 1], got {missing!r}")
    per_user = item_affinity(checkpoint, item_id)
    position = {uid: i for i, uid in enumerate(checkpoint.user_ids)}
    index = np.array([position.get(uid, -1) for uid in graph.ids], dtype=np.int64)
    out = np.full(graph.num_nodes, missing, dtype=np.float64)
    known = index >= 0
    out[known] = per_user[index[known]]
    return out


class UnknownEntityError(LookupError):
    """Users or an item that the served snapshot / model does not know (API: 404)."""

    def __init__(self, kind: str, ids: Sequence[str]) -> None:
        shown = ", ".join(repr(i) for i in ids[:10])
        more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        super().__init__(f"unknown {kind}{'s' if len(ids) > 1 else ''}: {shown}{more}")
        self.kind = kind
        self.ids = list(ids)


@dataclass(frozen=True)
class ProbabilitySpec:
    """How edge probabilities are set.

    Attributes:
        kind: ``"uniform"`` (every edge ``p``), ``"weighted_cascade"`` (``1 / in-degree``) or
            ``"learned"`` (from the interaction log, Goyal et al. WSDM 2010, window
            ``window_s``).
        p: The uniform probability, in ``[0, 1]``.
        window_s: The learning window in seconds (> 0).
    """

    kind: ProbabilityKind = "weighted_cascade"
    p: float = 0.05
    window_s: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        if self.kind not in PROBABILITY_KINDS:
            raise ValueError(
                f"probability kind must be one of {PROBABILITY_KINDS}, got {self.kind!r}"
            )
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {self.p!r}")
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {self.window_s!r}")

    def key(self) -> tuple[str, float, int]:
        """The cache key (only the fields the kind uses)."""
        return (
            self.kind,
            self.p if self.kind == "uniform" else 0.0,
            self.window_s if self.kind == "learned" else 0,
        )


@dataclass(frozen=True)
class InfluencerReach:
    """One account of :meth:`ReachService.influencers`: followers, reach alone and (with a
    target item) qualified reach alone."""

    user_id: str
    followers: int
    reach: Estimate
    qualified: Estimate | None


class ReachService:
    """Reach estimates, campaign plans and influencer rankings on one snapshot.

    Args:
        snapshot: The served snapshot (its friend/follow edges form the influence graph).
        checkpoint: The served model, for qualified reach (``None``: no target items).
        jobs: Worker threads of the kernels (default: available CPUs).

    Thread-safe: caches are guarded by a lock; the graphs themselves are read-only.
    """

    def __init__(
        self, snapshot: Snapshot, checkpoint: Checkpoint | None = None, *, jobs: int | None = None
    ) -> None:
        self.snapshot = snapshot
        self.checkpoint = checkpoint
        self.jobs = jobs
        self.graph = InfluenceGraph.from_snapshot(snapshot)
        self._lock = threading.Lock()
        self._graphs: OrderedDict[tuple[object, ...], InfluenceGraph] = OrderedDict()
        self._affinity: OrderedDict[str, NDArray[np.float64]] = OrderedDict()

    # -- inputs ---------------------------------------------------------------------------

    def check_users(self, users: Sequence[str]) -> None:
        """Raises UnknownEntityError naming every user not in the influence graph."""
        unknown = [u for u in users if u not in self.graph.index]
        if unknown:
            raise UnknownEntityError("user", unknown)

    def probability_graph(self, spec: ProbabilitySpec, model: Model) -> InfluenceGraph:
        """The influence graph with ``spec``'s probabilities (LT: incoming weights scaled to
        sum to at most 1 with :func:`lt_normalized`), cached per setting."""
        if model not in ("ic", "lt"):
            raise ValueError(f"model must be 'ic' or 'lt', got {model!r}")
        key = (*spec.key(), model)
        with self._lock:
            cached = self._graphs.get(key)
            if cached is not None:
                self._graphs.move_to_end(key)
                return cached
        if spec.kind == "uniform":
            graph = uniform(self.graph, spec.p)
        elif spec.kind == "weighted_cascade":
            graph = weighted_cascade(self.graph)
        else:
            graph = learned_from_log(self.graph, self.snapshot, window_s=spec.window_s).graph
        if model == "lt":
            graph = lt_normalized(graph)
        with self._lock:
            self._graphs[key] = graph
            while len(self._graphs) > _CACHE_SIZE:
                self._graphs.popitem(last=False)
        return graph

    def affinity(self, item_id: str) -> NDArray[np.float64]:
        """Calibrated affinity of every graph node for ``item_id`` (see :func:`graph_affinity`),
        cached per item.

        Raises:
            UnknownEntityError: if the model does not know the item.
            ValueError: if the service has no checkpoint.
        """
        if self.checkpoint is None:
            raise ValueError(
                f"item_id {item_id!r} needs a trained model for qualified reach; give a checkpoint"
            )
        with self._lock:
            cached = self._affinity.get(item_id)
            if cached is not None:
                self._affinity.move_to_end(item_id)
                return cached
        if item_id not in self.checkpoint.item_ids:
            raise UnknownEntityError("item", [item_id])
        values = graph_affinity(self.graph, self.checkpoint, item_id)
        with self._lock:
            self._affinity[item_id] = values
            while len(self._affinity) > 4 * _CACHE_SIZE:
                self._affinity.popitem(last=False)
        return values

    def target(
        self, item_id: str | None = None, segment: Collection[str] | None = None
    ) -> NDArray[np.float64] | None:
        """Target weight of every graph node: affinity for ``item_id`` (1 without) times
        membership of ``segment`` (all users without); ``None`` when neither is given.

        Raises:
            ValueError: if ``segment`` has no member in the influence graph.
            UnknownEntityError: if the model does not know the item.
        """
        if item_id is None and segment is None:
            return None
        weights = (
            np.ones(self.graph.num_nodes) if item_id is None else self.affinity(item_id).copy()
        )
        if segment is not None:
            index = self.graph.index
            members = np.array([index[u] for u in segment if u in index], dtype=np.int64)
            if members.size == 0:
                raise ValueError("the segment has no members in the influence graph")
            inside = np.zeros(self.graph.num_nodes, dtype=bool)
            inside[members] = True
            weights[~inside] = 0.0
        return weights

    def _check_time(
        self,
        graph: InfluenceGraph,
        model: Model,
        seed_sets: Sequence[Sequence[str]],
        simulations: int,
        time_limit_s: float | None,
        *,
        attribute: bool,
        what: str,
    ) -> None:
        """Project the time of ``simulations`` runs of every set from a timed pilot on the
        first set (callers put the largest audience first); raise WorkLimitError above the
        limit."""
        if time_limit_s is None or not seed_sets:
            return
        lt = check_model_graph(graph, model)
        nodes = resolve_seeds(graph, list(seed_sets[0]))
        pilot = min(simulations, PILOT_SIMULATIONS)
        attr = attribute and nodes.shape[0] <= 64
        for runs in (1, pilot):  # the first call loads the compiled kernels
            started = time.perf_counter()
            run_simulations(
                graph,
                nodes,
                lt=lt,
                simulations=runs,
                base_seed=0,
                attribute=attr,
                affinity=None,
                jobs=self.jobs,
            )
        per_run = (time.perf_counter() - started) / pilot
        projected = per_run * simulations * len(seed_sets)
        if projected > time_limit_s:
            fit = max(int(time_limit_s / max(per_run * len(seed_sets), 1e-12)), 0)
            raise WorkLimitError(
                f"{what} with {simulations} simulations would take about {projected:.1f} s, "
                f"above the time limit of {time_limit_s:g} s; lower simulations "
                f"(about {fit} fit)"
            )

    # -- requests -------------------------------------------------------------------------

    def estimate(
        self,
        seeds: Sequence[str],
        *,
        model: Model = "ic",
        probability: ProbabilitySpec | None = None,
        simulations: int = 1000,
        seed: int | None = None,
        item_id: str | None = None,
        segment: Collection[str] | None = None,
        time_limit_s: float | None = None,
    ) -> ReachEstimate:
        """:func:`graph.reach.estimate_reach` of ``seeds`` (with qualified reach for the
        :meth:`target` of ``item_id`` and ``segment``), after checking ids and the time limit."""
        self.check_users(seeds)
        spec = probability or ProbabilitySpec()
        affinity = self.target(item_id, segment)
        graph = self.probability_graph(spec, model)
        self._check_time(
            graph, model, [seeds], simulations, time_limit_s, attribute=True, what="this estimate"
        )
        return estimate_reach(
            graph,
            list(seeds),
            model=model,
            simulations=simulations,
            seed=seed,
            affinity=affinity,
            max_simulations=max(simulations, 2),
            jobs=self.jobs,
        )

    def plan(
        self,
        *,
        k: int | None = None,
        budget: float | None = None,
        costs: Mapping[str, float] | None = None,
        candidates: Sequence[str] | None = None,
        model: Model = "ic",
        probability: ProbabilitySpec | None = None,
        simulations: int = 1000,
        seed: int | None = None,
        item_id: str | None = None,
        segment: Collection[str] | None = None,
        pool_size: int = 1000,
        epsilon: float = 0.5,
        max_rr_sets: int = 5_000_000,
        time_limit_s: float | None = None,
    ) -> CampaignPlan:
        """:func:`graph.reach.plan_campaign` after checking ids and the time limit (a pilot
        for the four Monte-Carlo runs, IMM's own projection for the RR sets); the objective is
        qualified reach when ``item_id`` or ``segment`` is given (see :meth:`target`)."""
        if candidates is not None:
            self.check_users(candidates)
        if costs is not None:
            self.check_users(list(costs))
        spec = probability or ProbabilitySpec()
        affinity = self.target(item_id, segment)
        graph = self.probability_graph(spec, model)
        started = time.perf_counter()
        if time_limit_s is not None:
            if candidates is not None:
                pool = resolve_seeds(graph, list(candidates))
            elif budget is not None and costs is not None:
                pool = resolve_seeds(graph, list(costs))
            else:
                pool = top_followers(graph, pool_size)
            pool = pool[np.argsort(-graph.out_degree[pool], kind="stable")]
            if k is not None:
                size = min(k, len(pool))
            else:  # at most as many seeds as the cheapest candidates that fit the budget
                cheapest = np.sort(np.array([c for c in (costs or {}).values()], dtype=float))
                size = int(np.searchsorted(np.cumsum(cheapest), budget or 0.0, side="right"))
                size = max(1, min(size, len(pool)))
            widest = [graph.label(int(v)) for v in pool[:size]]
            self._check_time(
                graph,
                model,
                [widest] * 4,
                simulations,
                time_limit_s,
                attribute=False,
                what="this plan's estimates",
            )
        remaining = None if time_limit_s is None else time_limit_s - (time.perf_counter() - started)
        return plan_campaign(
            graph,
            k=k,
            budget=budget,
            costs=costs,
            candidates=candidates,
            model=model,
            affinity=affinity,
            pool_size=pool_size,
            epsilon=epsilon,
            simulations=simulations,
            seed=seed,
            max_rr_sets=max_rr_sets,
            time_limit_s=remaining,
            jobs=self.jobs,
        )

    def influencers(
        self,
        k: int,
        *,
        item_id: str | None = None,
        segment: Collection[str] | None = None,
        model: Model = "ic",
        probability: ProbabilitySpec | None = None,
        simulations: int = 200,
        seed: int | None = None,
        pool_size: int | None = None,
        time_limit_s: float | None = None,
    ) -> list[InfluencerReach]:
        """The ``k`` accounts with the largest reach alone (qualified reach alone when
        ``item_id`` or ``segment`` is given), best first, among the ``pool_size``
        most-followed accounts (default ``max(3 k, k + 20)``). Every account is estimated on
        the same simulated worlds (same ``seed``), so the values equal
        ``estimate_reach(graph, [account], ...)``.

        Raises:
            ValueError: if ``k`` or ``pool_size`` is < 1.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        pool_n = pool_size if pool_size is not None else max(3 * k, k + 20)
        if pool_n < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_n!r}")
        spec = probability or ProbabilitySpec()
        affinity = self.target(item_id, segment)
        graph = self.probability_graph(spec, model)
        pool = [graph.label(int(v)) for v in top_followers(graph, pool_n)]
        self._check_time(
            graph,
            model,
            [[u] for u in pool],
            simulations,
            time_limit_s,
            attribute=False,
            what=f"ranking {len(pool)} accounts",
        )
        fixed = make_seed(seed)
        rows = []
        for user in pool:
            est = estimate_reach(
                graph,
                [user],
                model=model,
                simulations=simulations,
                seed=fixed,
                affinity=affinity,
                attribution=False,
                max_simulations=max(simulations, 2),
                jobs=self.jobs,
            )
            rows.append(
                InfluencerReach(
                    user_id=user,
                    followers=int(graph.out_degree[graph.node(user)]),
                    reach=est.reach,
                    qualified=est.qualified,
                )
            )

        def score(row: InfluencerReach) -> float:
            return row.qualified.mean if row.qualified is not None else row.reach.mean

        rows.sort(key=lambda r: (-score(r), -r.followers))
        return rows[:k]

    def prefix_curve(
        self,
        order: Sequence[str],
        *,
        model: Model = "ic",
        probability: ProbabilitySpec | None = None,
        simulations: int = 200,
        seed: int | None = None,
        item_id: str | None = None,
        segment: Collection[str] | None = None,
    ) -> list[Estimate]:
        """Estimates of the prefixes ``order[:1], order[:2], ...`` (reach, or qualified reach
        with ``item_id`` or ``segment``), on the same worlds (for "reach vs number of
        influencers")."""
        spec = probability or ProbabilitySpec()
        affinity = self.target(item_id, segment)
        graph = self.probability_graph(spec, model)
        out = []
        for i in range(1, len(order) + 1):
            est = estimate_reach(
                graph,
                list(order[:i]),
                model=model,
                simulations=simulations,
                seed=seed if seed is not None else 0,
                affinity=affinity,
                attribution=False,
                max_simulations=max(simulations, 2),
                jobs=self.jobs,
            )
            value = est.qualified if est.qualified is not None else est.reach
            out.append(value)
        return out
