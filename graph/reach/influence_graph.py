"""The directed influence graph and its edge probabilities.

Influence flows against attention: a snapshot's social edge ``src -> dst`` ("src sees dst")
becomes the influence edge ``dst -> src``. A follow ``a follows b`` therefore gives ``b -> a``
(followed account to follower) and a mutual friendship gives both directions. A node's
out-degree is its number of followers (audience size).

Edge probabilities are attached by one of three functions, each returning a new graph:

* :func:`uniform` — every edge has the same probability ``p``.
* :func:`weighted_cascade` — ``p(u, v) = 1 / in_degree(v)`` (Kempe, Kleinberg & Tardos, KDD 2003).
  Incoming weights sum to exactly 1, so the same graph is also a valid Linear Threshold graph.
* :func:`graph.reach.learned.learned_from_log` — learned from the interaction log (its own
  module).

:func:`lt_normalized` rescales any probabilities so every node's incoming weights sum to at most
1, as the Linear Threshold model requires.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from graph.schema import FRIENDSHIP_KINDS

if TYPE_CHECKING:
    import networkx as nx

    from graph.snapshot import Snapshot

#: Tolerance when checking that Linear Threshold incoming weights sum to at most 1.
LT_TOLERANCE = 1e-5


@dataclass(frozen=True, eq=False)
class InfluenceGraph:
    """A directed graph in CSR form: out-edges of node ``u`` are
    ``indices[indptr[u]:indptr[u + 1]]`` (sorted, no duplicates, no self-loops).

    Attributes:
        indptr: ``int64[num_nodes + 1]`` row pointers.
        indices: ``int32[num_edges]`` edge targets.
        prob: ``float32[num_edges]`` activation probability (IC) or weight (LT) per edge, or
            ``None`` when no probabilities have been assigned yet.
        ids: Optional node ids (``ids[i]`` names node ``i``), e.g. the snapshot's user ids.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    prob: NDArray[np.float32] | None = None
    ids: list[str] | None = field(default=None)

    @property
    def num_nodes(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    @cached_property
    def index(self) -> dict[str, int]:
        """node id -> index (empty when the graph has no ids)."""
        return {node_id: i for i, node_id in enumerate(self.ids or [])}

    @cached_property
    def sources(self) -> NDArray[np.int32]:
        """``int32[num_edges]``: the source node of every edge."""
        return np.repeat(np.arange(self.num_nodes, dtype=np.int32), np.diff(self.indptr)).astype(
            np.int32
        )

    @cached_property
    def out_degree(self) -> NDArray[np.int64]:
        """Followers per node (audience size)."""
        return np.diff(self.indptr)

    @cached_property
    def in_degree(self) -> NDArray[np.int64]:
        return np.bincount(self.indices, minlength=self.num_nodes).astype(np.int64)

    @classmethod
    def from_edges(
        cls,
        src: NDArray[np.integer] | Sequence[int],
        dst: NDArray[np.integer] | Sequence[int],
        num_nodes: int,
        *,
        prob: NDArray[np.floating] | Sequence[float] | None = None,
        ids: Sequence[str] | None = None,
    ) -> InfluenceGraph:
        """Build a graph from influence edges ``src[e] -> dst[e]``.

        Self-loops are dropped; duplicate edges are merged (keeping the largest probability).

        Raises:
            ValueError: if ``num_nodes`` is negative, an endpoint is outside
                ``[0, num_nodes)``, the arrays differ in length, a probability is outside
                ``[0, 1]`` or ``ids`` has the wrong length.
        """
        if num_nodes < 0:
            raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
        s = np.asarray(src, dtype=np.int64).ravel()
        d = np.asarray(dst, dtype=np.int64).ravel()
        if s.shape != d.shape:
            raise ValueError(f"src and dst differ in length: {s.shape[0]} != {d.shape[0]}")
        for name, arr in (("src", s), ("dst", d)):
            if arr.size and (arr.min() < 0 or arr.max() >= num_nodes):
                bad = arr[(arr < 0) | (arr >= num_nodes)][0]
                raise ValueError(f"{name} has node {bad} outside [0, {num_nodes})")
        if ids is not None and len(ids) != num_nodes:
            raise ValueError(f"ids has {len(ids)} entries, expected num_nodes={num_nodes}")
        p: NDArray[np.float64] | None = None
        if prob is not None:
            p = np.asarray(prob, dtype=np.float64).ravel()
            if p.shape != s.shape:
                raise ValueError(f"prob has {p.shape[0]} entries, expected {s.shape[0]} edges")
            _check_probabilities(p, "prob")
        keep = s != d
        s, d = s[keep], d[keep]
        if p is not None:
            p = p[keep]
            order = np.lexsort((-p, d, s))
        else:
            order = np.lexsort((d, s))
        s, d = s[order], d[order]
        first = np.ones(s.shape[0], dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
        s, d = s[first], d[first]
        indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(s, minlength=num_nodes), out=indptr[1:])
        return cls(
            indptr=indptr,
            indices=d.astype(np.int32),
            prob=None if p is None else p[order][first].astype(np.float32),
            ids=None if ids is None else [str(i) for i in ids],
        )

    @classmethod
    def from_snapshot(
        cls, snapshot: Snapshot, *, kinds: Iterable[str] = FRIENDSHIP_KINDS
    ) -> InfluenceGraph:
        """The influence graph of a snapshot's social edges of the given ``kinds``
        (reversed: influence flows ``dst -> src``), without probabilities.

        Raises:
            ValueError: if a kind is not in ``graph.schema.FRIENDSHIP_KINDS``.
        """
        codes = []
        for kind in kinds:
            if kind not in FRIENDSHIP_KINDS:
                raise ValueError(f"kinds contains {kind!r}; expected one of {FRIENDSHIP_KINDS}")
            codes.append(FRIENDSHIP_KINDS.index(kind))
        keep = np.isin(snapshot.social_kind, codes)
        return cls.from_edges(
            snapshot.social_dst[keep],
            snapshot.social_src[keep],
            snapshot.num_users,
            ids=snapshot.user_ids,
        )

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, *, prob_attr: str = "p") -> InfluenceGraph:
        """Convert a ``networkx.DiGraph``; node labels become ids (``str(node)``), edge
        attribute ``prob_attr`` (when every edge has it) becomes the probability.

        Raises:
            ValueError: if ``graph`` is undirected or a probability is outside ``[0, 1]``.
        """
        if not graph.is_directed():
            raise ValueError("graph must be a networkx.DiGraph, got an undirected graph")
        nodes = list(graph.nodes)
        pos = {node: i for i, node in enumerate(nodes)}
        edges = list(graph.edges(data=prob_attr))
        src = [pos[u] for u, _, _ in edges]
        dst = [pos[v] for _, v, _ in edges]
        probs = [p for _, _, p in edges]
        has_prob = bool(edges) and all(p is not None for p in probs)
        return cls.from_edges(
            src, dst, len(nodes), prob=probs if has_prob else None, ids=[str(n) for n in nodes]
        )

    def to_networkx(self, *, prob_attr: str = "p") -> nx.DiGraph:
        """A ``networkx.DiGraph`` with nodes labelled by id (or index) and edge attribute
        ``prob_attr`` when probabilities are set."""
        import networkx as nx

        labels: Sequence[Hashable] = self.ids if self.ids is not None else range(self.num_nodes)
        graph = nx.DiGraph()
        graph.add_nodes_from(labels)
        src = self.sources.tolist()
        dst = self.indices.tolist()
        if self.prob is None:
            graph.add_edges_from((labels[u], labels[v]) for u, v in zip(src, dst, strict=True))
        else:
            graph.add_edges_from(
                (labels[u], labels[v], {prob_attr: float(p)})
                for u, v, p in zip(src, dst, self.prob.tolist(), strict=True)
            )
        return graph

    def with_probabilities(self, prob: NDArray[np.floating] | Sequence[float]) -> InfluenceGraph:
        """A copy with per-edge probabilities ``prob`` (aligned with ``indices``).

        Raises:
            ValueError: if ``prob`` has the wrong length or a value outside ``[0, 1]``.
        """
        p = np.asarray(prob, dtype=np.float64).ravel()
        if p.shape[0] != self.num_edges:
            raise ValueError(f"prob has {p.shape[0]} entries, expected {self.num_edges} edges")
        _check_probabilities(p, "prob")
        return replace(self, prob=p.astype(np.float32))

    def node(self, user: str | int) -> int:
        """The index of ``user``: a ``str`` is looked up in ``ids`` (or read as an index when the
        graph has no ids), an ``int`` is an index.

        Raises:
            ValueError: if the user is unknown.
        """
        if isinstance(user, str) and self.ids is None and user.isdigit():
            user = int(user)  # labels of a graph without ids are its indices
        if isinstance(user, str):
            found = self.index.get(user)
            if found is None:
                raise ValueError(f"unknown user {user!r}: not a node of the influence graph")
            return found
        if isinstance(user, (int, np.integer)) and not isinstance(user, bool):
            if 0 <= int(user) < self.num_nodes:
                return int(user)
            raise ValueError(f"unknown user {int(user)}: index outside [0, {self.num_nodes})")
        raise ValueError(f"user must be an id (str) or index (int), got {user!r}")

    def label(self, node: int) -> str:
        """The id of node index ``node`` (its index as a string when the graph has no ids)."""
        return self.ids[node] if self.ids is not None else str(node)

    def in_weight_sums(self) -> NDArray[np.float64]:
        """Sum of incoming probabilities per node (all zeros without probabilities)."""
        if self.prob is None:
            return np.zeros(self.num_nodes)
        sums = np.bincount(self.indices, weights=self.prob, minlength=self.num_nodes)
        return sums.astype(np.float64)


def _check_probabilities(p: NDArray[np.float64], name: str) -> None:
    bad = ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        e = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{e}] = {float(p[e])!r} is outside [0, 1]")


def uniform(graph: InfluenceGraph, p: float) -> InfluenceGraph:
    """Every edge gets activation probability ``p``.

    Raises:
        ValueError: if ``p`` is outside ``[0, 1]``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return graph.with_probabilities(np.full(graph.num_edges, p))


def weighted_cascade(graph: InfluenceGraph) -> InfluenceGraph:
    """Weighted cascade: ``p(u, v) = 1 / in_degree(v)`` (Kempe et al., KDD 2003)."""
    return graph.with_probabilities(1.0 / graph.in_degree[graph.indices])


def lt_normalized(graph: InfluenceGraph) -> InfluenceGraph:
    """Linear Threshold weights: each node's incoming probabilities divided by their sum
    when it exceeds 1 (left unchanged otherwise), so incoming weights sum to at most 1.

    Raises:
        ValueError: if the graph has no probabilities.
    """
    if graph.prob is None:
        raise ValueError("graph has no edge probabilities; assign them first (e.g. uniform)")
    total = graph.in_weight_sums()
    scale = 1.0 / np.maximum(total, 1.0)
    return graph.with_probabilities(np.minimum(graph.prob * scale[graph.indices], 1.0))
