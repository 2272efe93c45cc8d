"""Reach services for the API and the CLI: :class:`ReachService`.

:class:`ReachService` holds the snapshot's influence graph (as a :class:`ServedGraph` of the
users served now, which builds and caches its edge probabilities per setting and the per-item
affinities of :mod:`serving.affinity`), checks ids (unknown users / items raise
:class:`~serving.served_graph.UnknownEntityError`, which the API answers with 404) and
bounds the time of a request from its start: the limit goes to
:func:`graph.reach.estimate_reach` and :func:`graph.reach.plan_campaign`, which time a pilot
and refuse the rest with :class:`graph.reach.WorkLimitError` (422) when the projected time
exceeds it. A running numba kernel cannot be interrupted, so the limit is enforced by
projection, not preemption.

Edge probabilities: requests that name none use the calibrated model of the last backtest
when there is one (:mod:`serving.reach_model`), weighted cascade otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gnn.checkpoint import Checkpoint
from graph.reach.estimate import (
    Estimate,
    Model,
    ReachEstimate,
    estimate_reach,
    make_seed,
)
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.plan import CampaignPlan, plan_campaign
from graph.snapshot import Snapshot
from serving.affinity import fit_purchase
from serving.live import LiveGraph
from serving.reach_model import ReachModel
from serving.served_graph import ProbabilitySpec, ServedGraph


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
        live: The live graph over ``snapshot``: users deleted since are left out of every
            answer (as seeds, candidates and reached users), users registered since are
            served (``None``: the snapshot's users as they are).
        reach_model: The calibrated reach model of the last backtest (default: none, so
            requests that name no probability use weighted cascade).
        jobs: Worker threads of the kernels (default: available CPUs).

    Thread-safe: each request works on one :class:`ServedGraph`, rebuilt when the live
    graph's membership changes; its caches are guarded by a lock.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        checkpoint: Checkpoint | None = None,
        *,
        live: LiveGraph | None = None,
        reach_model: ReachModel | None = None,
        jobs: int | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.checkpoint = checkpoint
        self.live = live
        self.reach_model = reach_model or ReachModel()
        self.jobs = jobs
        self._base = InfluenceGraph.from_snapshot(snapshot)
        self._lock = threading.Lock()
        self._membership = -1
        self.purchase, self.affinity_method = fit_purchase(checkpoint, snapshot)
        self._served = self._view((), ())

    def _view(self, deleted: Collection[str], registered: Sequence[str]) -> ServedGraph:
        return ServedGraph(
            self.snapshot,
            self.checkpoint,
            self._base,
            deleted,
            registered,
            reach_model=self.reach_model,
            purchase=self.purchase,
        )

    def default_probability(self) -> ProbabilitySpec:
        """The probabilities of a request that names none: calibrated when available."""
        if self.reach_model.calibrated is None:
            return ProbabilitySpec(kind="weighted_cascade")
        return ProbabilitySpec(kind="calibrated")

    def served(self) -> ServedGraph:
        """The served graph as of now (rebuilt after a registration or deletion)."""
        if self.live is None:
            return self._served
        membership = self.live.membership  # read first: what follows is at least as new
        with self._lock:
            if membership == self._membership:
                return self._served
        served = self._view(self.live.deleted, [u.user_id for u in self.live.new_users()])
        with self._lock:
            if membership > self._membership:
                self._served, self._membership = served, membership
        return served

    @property
    def graph(self) -> InfluenceGraph:
        """The served influence graph, without probabilities."""
        return self.served().graph

    # -- inputs ---------------------------------------------------------------------------

    def check_users(self, users: Sequence[str]) -> None:
        """Raises UnknownEntityError naming every user not served."""
        self.served().check_users(users)

    def probability_graph(self, spec: ProbabilitySpec, model: Model) -> InfluenceGraph:
        """:meth:`ServedGraph.probability_graph` of the served graph."""
        return self.served().probability_graph(spec, model)

    def affinity(self, item_id: str) -> NDArray[np.float64]:
        """:meth:`ServedGraph.affinity` of the served graph."""
        return self.served().affinity(item_id)

    def target(
        self, item_id: str | None = None, segment: Collection[str] | None = None
    ) -> NDArray[np.float64] | None:
        """:meth:`ServedGraph.target` of the served graph."""
        return self.served().target(item_id, segment)

    # -- requests -------------------------------------------------------------------------

    def _inputs(
        self,
        view: ServedGraph,
        model: Model,
        probability: ProbabilitySpec | None,
        item_id: str | None,
        segment: Collection[str] | None,
    ) -> tuple[InfluenceGraph, NDArray[np.float64] | None]:
        """A request's influence graph (its probabilities, else the default ones) and the
        affinity target of ``item_id`` and ``segment`` on ``view``."""
        spec = probability or self.default_probability()
        affinity = view.target(item_id, segment)  # an unknown item fails first, as before
        return view.probability_graph(spec, model), affinity

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
        started = time.perf_counter()
        view = self.served()
        view.check_users(seeds)
        graph, affinity = self._inputs(view, model, probability, item_id, segment)
        return estimate_reach(
            graph,
            list(seeds),
            model=model,
            simulations=simulations,
            seed=seed,
            affinity=affinity,
            max_simulations=max(simulations, 2),
            time_limit_s=time_limit_s,
            started=started,
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
        """:func:`graph.reach.plan_campaign` after checking ids, within ``time_limit_s`` of the
        request's start; the objective is qualified reach when ``item_id`` or ``segment`` is
        given (see :meth:`target`)."""
        started = time.perf_counter()
        view = self.served()
        if candidates is not None:
            view.check_users(candidates)
        if costs is not None:
            view.check_users(list(costs))
        if candidates is None and budget is not None and costs is not None:
            candidates = list(costs)
        elif candidates is None:
            if pool_size < 1:
                raise ValueError(f"pool_size must be >= 1, got {pool_size}")
            candidates = view.top_followers(pool_size)  # served users only
        graph, affinity = self._inputs(view, model, probability, item_id, segment)
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
            time_limit_s=time_limit_s,
            started=started,
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
        ``estimate_reach(graph, [account], ...)``. Within ``time_limit_s`` of the request's
        start, each account gets an equal share of the time left (the most-followed first, so
        a limit too short for the ranking is refused at the first account).

        Raises:
            ValueError: if ``k`` or ``pool_size`` is < 1.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        pool_n = pool_size if pool_size is not None else max(3 * k, k + 20)
        if pool_n < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_n!r}")
        started = time.perf_counter()
        view = self.served()
        graph, affinity = self._inputs(view, model, probability, item_id, segment)
        pool = view.top_followers(pool_n)
        fixed = make_seed(seed)
        rows = []
        for i, user in enumerate(pool):
            now = time.perf_counter()
            share = (
                None if time_limit_s is None else (time_limit_s - (now - started)) / (len(pool) - i)
            )
            est = estimate_reach(
                graph,
                [user],
                model=model,
                simulations=simulations,
                seed=fixed,
                affinity=affinity,
                attribution=False,
                max_simulations=max(simulations, 2),
                time_limit_s=share,
                started=now,
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
        view = self.served()
        view.check_users(order)
        graph, affinity = self._inputs(view, model, probability, item_id, segment)
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
