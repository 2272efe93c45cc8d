"""The influence graph of the users served at one moment (:class:`ServedGraph`), with its
per-setting caches of edge probabilities and item affinities, and how a request names its edge
probabilities (:class:`ProbabilitySpec`).

Segments: a request may target a segment (a set of users, e.g. the ``active`` users of
:meth:`serving.profile.ProfileService.segment_members`). Each user's *target weight* is
then their affinity for the item (1 without an item, :mod:`serving.affinity`) times their
segment membership (1 or 0), and qualified reach is the expected sum of target weights over
reached users: with a segment and no item, the expected number of segment members reached
("reach within a segment").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from gnn.calibration import PurchaseCalibration
from gnn.checkpoint import Checkpoint
from graph.reach.estimate import Model
from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform, weighted_cascade
from graph.reach.learned import learned_from_log
from graph.reach.plan import top_followers
from graph.snapshot import Snapshot
from serving.affinity import graph_affinity
from serving.reach_model import CALIBRATED, ReachModel

ProbabilityKind = Literal["uniform", "weighted_cascade", "learned", "calibrated"]
PROBABILITY_KINDS: Final[tuple[str, ...]] = ("uniform", "weighted_cascade", "learned", CALIBRATED)
_CACHE_SIZE: Final[int] = 8


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
