"""Reach services for the API and the CLI: affinity calibration and :class:`ReachService`.

:class:`ReachService` holds the snapshot's influence graph, builds (and caches) its edge
probabilities per setting and the per-item affinities, checks ids (unknown users / items raise
:class:`UnknownEntityError`, which the API answers with 404) and bounds the time of a request
from its start: the limit goes to :func:`graph.reach.estimate_reach` and
:func:`graph.reach.plan_campaign`, which time a pilot and refuse the rest with
:class:`graph.reach.WorkLimitError` (422) when the projected time exceeds it. A running numba
kernel cannot be interrupted, so the limit is enforced by projection, not preemption.

Affinity for an item (qualified reach): a **purchase probability**. The model's score
``s_u = user_embeddings[u] . item_embeddings[i]`` goes through the isotonic map of
:func:`gnn.calibration.fit_purchase_calibration`, fitted on the checkpoint's validation pairs:
``P(item among the user's next held-out interactions | score)``. Qualified reach is then the
expected number of reached users who go on to interact with the item in such a period ("likely
buyers"). When the checkpoint's split cannot be rebuilt from the served snapshot (another
snapshot), affinity falls back to the **percentile rank** of the score among all users
(:func:`percentile_affinity`: 0.5 for the median user, a relative propensity, not a
probability), and responses say which one was used.

Edge probabilities: requests that name none use the calibrated model of the last backtest
when there is one (:mod:`serving.reach_model`), weighted cascade otherwise.

Segments: a request may target a segment (a set of users, e.g. the ``active`` users of
:meth:`serving.profile.ProfileService.segment_members`). Each user's *target weight* is
then their affinity for the item (1 without an item) times their segment membership (1 or 0),
and qualified reach is the expected sum of target weights over reached users: with a segment
and no item, the expected number of segment members reached ("reach within a segment").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import rankdata

from gnn.calibration import PurchaseCalibration, fit_purchase_calibration
from gnn.checkpoint import Checkpoint
from graph.reach.estimate import (
    Estimate,
    Model,
    ReachEstimate,
    estimate_reach,
    make_seed,
)
from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform, weighted_cascade
from graph.reach.learned import learned_from_log
from graph.reach.plan import CampaignPlan, plan_campaign, top_followers
from graph.snapshot import Snapshot
from serving.live import LiveGraph
from serving.reach_model import CALIBRATED, ReachModel

ProbabilityKind = Literal["uniform", "weighted_cascade", "learned", "calibrated"]
PROBABILITY_KINDS: Final[tuple[str, ...]] = ("uniform", "weighted_cascade", "learned", CALIBRATED)
#: How affinities are made, as responses describe them.
PURCHASE_PROBABILITY: Final[str] = (
    "purchase probability: P(item among the user's next held-out interactions | model score), "
    "isotonic on the model's validation pairs"
)
PERCENTILE_RANK: Final[str] = (
    "percentile rank of the model score for the item among all users, in [0, 1]"
)
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


def item_affinity(
    checkpoint: Checkpoint,
    item_id: str,
    *,
    drop: Collection[str] = (),
    purchase: PurchaseCalibration | None = None,
) -> NDArray[np.float64]:
    """Affinity of every checkpoint user (checkpoint order) for ``item_id``: the purchase
    probability of ``purchase`` or, without it, the percentile rank among the users not in
    ``drop`` (users in ``drop``, e.g. deleted ones, get 0 and count in no rank).

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
        ).numpy()
    keep = np.array([u not in drop for u in checkpoint.user_ids], dtype=bool)
    out = np.zeros(scores.shape[0], dtype=np.float64)
    if purchase is not None:
        out[keep] = purchase.probability(scores[keep])
    else:
        out[keep] = percentile_affinity(scores[keep])
    return out


def graph_affinity(
    graph: InfluenceGraph,
    checkpoint: Checkpoint,
    item_id: str,
    *,
    missing: float = 0.0,
    drop: Collection[str] = (),
    purchase: PurchaseCalibration | None = None,
) -> NDArray[np.float64]:
    """:func:`item_affinity` aligned with the influence graph's nodes (by user id); users the
    model does not know get ``missing``, users in ``drop`` 0.

    Raises:
        ValueError: if the graph has no ids, the item is unknown or ``missing`` is outside
            ``[0, 1]``.
    """
    if graph.ids is None:
        raise ValueError("graph has no user ids; build it with InfluenceGraph.from_snapshot")
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing must be in [0, 1], got {missing!r}")
    per_user = item_affinity(checkpoint, item_id, drop=drop, purchase=purchase)
    position = {uid: i for i, uid in enumerate(checkpoint.user_ids)}
    index = np.array([position.get(uid, -1) for uid in graph.ids], dtype=np.int64)
    out = np.full(graph.num_nodes, missing, dtype=np.float64)
    known = index >= 0
    out[known] = per_user[index[known]]
    return out


def without_nodes(graph: InfluenceGraph, dead: NDArray[np.bool_]) -> InfluenceGraph:
    """``graph`` with every edge into or out of a ``dead`` node removed (nodes and ids kept)."""
    keep = ~(dead[graph.sources] | dead[graph.indices])
    indptr = np.zeros(graph.num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(graph.sources[keep], minlength=graph.num_nodes), out=indptr[1:])
    prob = None if graph.prob is None else graph.prob[keep]
    return replace(graph, indptr=indptr, indices=graph.indices[keep], prob=prob)


def with_isolated(graph: InfluenceGraph, ids: Sequence[str]) -> InfluenceGraph:
    """``graph`` with nodes ``ids`` appended, without edges (e.g. users registered since)."""
    if not ids:
        return graph
    tail = np.full(len(ids), graph.indptr[-1], dtype=np.int64)
    return replace(
        graph, indptr=np.concatenate([graph.indptr, tail]), ids=[*(graph.ids or []), *ids]
    )


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
        kind: ``"uniform"`` (every edge ``p``), ``"weighted_cascade"`` (``1 / in-degree``),
            ``"learned"`` (from the interaction log, Goyal et al. WSDM 2010, window
            ``window_s``) or ``"calibrated"`` (the backtested model of
            :mod:`serving.reach_model`).
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


class ServedGraph:
    """The influence graph of the users served at one moment, and its per-setting caches.

    Nodes are the snapshot's users, then the users registered since (without edges: the
    snapshot has none for them). Deleted users keep their node but lose every edge, so they
    are never reached, and :meth:`check_users` and :meth:`top_followers` leave them out.

    Args:
        snapshot: The served snapshot.
        checkpoint: The served model (``None``: no affinities).
        base: The snapshot's influence graph (:meth:`InfluenceGraph.from_snapshot`).
        deleted: Users deleted since the snapshot.
        registered: Users registered since the snapshot.
        reach_model: The calibrated reach model, if any.
        purchase: The purchase-probability calibration (``None``: percentile ranks).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        checkpoint: Checkpoint | None,
        base: InfluenceGraph,
        deleted: Collection[str] = (),
        registered: Sequence[str] = (),
        reach_model: ReachModel | None = None,
        purchase: PurchaseCalibration | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.checkpoint = checkpoint
        self.reach_model = reach_model or ReachModel()
        self.purchase = purchase
        index = base.index
        dead = np.zeros(base.num_nodes, dtype=bool)
        dead[[index[u] for u in deleted if u in index]] = True
        self._deleted = frozenset(deleted)
        self._core = without_nodes(base, dead) if dead.any() else base
        self._new = [u for u in registered if u not in index and u not in self._deleted]
        self.graph = with_isolated(self._core, self._new)
        self.served = np.concatenate([~dead, np.ones(len(self._new), dtype=bool)])
        self._lock = threading.Lock()
        self._graphs: OrderedDict[tuple[object, ...], InfluenceGraph] = OrderedDict()
        self._affinity: OrderedDict[str, NDArray[np.float64]] = OrderedDict()

    def check_users(self, users: Sequence[str]) -> None:
        """Raises UnknownEntityError naming every user not served (unknown or deleted)."""
        index = self.graph.index
        unknown = [u for u in users if u not in index or not self.served[index[u]]]
        if unknown:
            raise UnknownEntityError("user", unknown)

    def top_followers(self, count: int) -> list[str]:
        """The ``count`` served users with the most followers, ties by node order."""
        order = top_followers(self.graph, self.graph.num_nodes)
        return [self.graph.label(int(v)) for v in order[self.served[order]][: max(count, 0)]]

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
            graph = uniform(self._core, spec.p)
        elif spec.kind == "weighted_cascade":
            graph = weighted_cascade(self._core)
        elif spec.kind == CALIBRATED:
            graph = self.reach_model.require().influence_graph(self._core)
        else:
            graph = learned_from_log(self._core, self.snapshot, window_s=spec.window_s).graph
        if model == "lt":
            graph = lt_normalized(graph)
        graph = with_isolated(graph, self._new)
        with self._lock:
            self._graphs[key] = graph
            while len(self._graphs) > _CACHE_SIZE:
                self._graphs.popitem(last=False)
        return graph

    def affinity(self, item_id: str) -> NDArray[np.float64]:
        """Calibrated affinity of every node for ``item_id`` (see :func:`graph_affinity`;
        deleted users get 0 and count in no rank), cached per item.

        Raises:
            UnknownEntityError: if the model does not know the item.
            ValueError: if there is no checkpoint.
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
        values = graph_affinity(
            self.graph, self.checkpoint, item_id, drop=self._deleted, purchase=self.purchase
        )
        with self._lock:
            self._affinity[item_id] = values
            while len(self._affinity) > 4 * _CACHE_SIZE:
                self._affinity.popitem(last=False)
        return values

    def target(
        self, item_id: str | None = None, segment: Collection[str] | None = None
    ) -> NDArray[np.float64] | None:
        """Target weight of every node: affinity for ``item_id`` (1 without) times membership
        of ``segment`` (all users without); ``None`` when neither is given.

        Raises:
            ValueError: if ``segment`` has no served member in the influence graph.
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
            members = members[self.served[members]]
            if members.size == 0:
                raise ValueError("segment has no served members in the influence graph")
            inside = np.zeros(self.graph.num_nodes, dtype=bool)
            inside[members] = True
            weights[~inside] = 0.0
        return weights


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
        self.purchase, self.affinity_method = self._fit_purchase()
        self._served = self._view((), ())

    def _fit_purchase(self) -> tuple[PurchaseCalibration | None, str]:
        """The purchase calibration of the checkpoint on its own validation split, or
        ``None`` (percentile ranks) when that split cannot be rebuilt from the snapshot."""
        if self.checkpoint is None:
            return None, PERCENTILE_RANK
        from gnn.checkpoint import checkpoint_data

        try:
            data = checkpoint_data(self.checkpoint, self.snapshot)
            purchase = fit_purchase_calibration(
                self.checkpoint.user_embeddings, self.checkpoint.item_embeddings, data
            )
        except ValueError as exc:
            return None, f"{PERCENTILE_RANK} (no purchase calibration: {exc})"
        return purchase, PURCHASE_PROBABILITY

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
        spec = probability or self.default_probability()
        affinity = view.target(item_id, segment)
        graph = view.probability_graph(spec, model)
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
        spec = probability or self.default_probability()
        affinity = view.target(item_id, segment)
        graph = view.probability_graph(spec, model)
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
        spec = probability or self.default_probability()
        affinity = view.target(item_id, segment)
        graph = view.probability_graph(spec, model)
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
        spec = probability or self.default_probability()
        affinity = view.target(item_id, segment)
        graph = view.probability_graph(spec, model)
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
