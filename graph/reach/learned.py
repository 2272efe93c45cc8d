"""Edge probabilities learned from the interaction log.

The Bernoulli estimate of Goyal, Bonchi & Lakshmanan, "Learning influence probabilities in
social networks", WSDM 2010, https://doi.org/10.1145/1718487.1718518, with additive smoothing
towards a prior (:func:`learned_from_log`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from numpy.typing import NDArray

from graph.reach.influence_graph import InfluenceGraph
from graph.schema import INTERACTION_KINDS, UNKNOWN_TS

if TYPE_CHECKING:
    from graph.snapshot import Snapshot


@dataclass(frozen=True)
class LearnedProbabilities:
    """The result of :func:`learned_from_log`.

    Attributes:
        graph: The influence graph with learned probabilities.
        actions: ``A_u``: adoptions per node (distinct items with a known timestamp).
        propagations: ``A_{u2v}`` per edge (aligned with ``graph.indices``).
        prior: The prior mean ``p0`` the estimates are smoothed towards.
    """

    graph: InfluenceGraph
    actions: NDArray[np.int64]
    propagations: NDArray[np.int64]
    prior: float


def learned_from_log(
    graph: InfluenceGraph,
    snapshot: Snapshot,
    *,
    window_s: int = 7 * 24 * 3600,
    kinds: Iterable[str] = ("purchase",),
    smoothing: float = 1.0,
    prior: float | None = None,
) -> LearnedProbabilities:
    """Learn edge probabilities from the interaction log (Goyal, Bonchi & Lakshmanan, WSDM 2010).

    An *action* is a user's first interaction of one of ``kinds`` with an item (events with
    unknown time are ignored). For an influence edge ``u -> v``, ``A_{u2v}`` counts the items
    that ``v`` adopted strictly after ``u`` and at most ``window_s`` seconds later; ``A_u`` is the
    number of items ``u`` adopted. Goyal et al.'s static Bernoulli estimate is
    ``p(u, v) = A_{u2v} / A_u``; with additive smoothing towards a prior ``p0`` and
    strength ``m = smoothing`` (pseudo-actions) it becomes::

        p(u, v) = (A_{u2v} + m * p0) / (A_u + m)

    so an account with no actions gets ``p0`` and one with many actions its observed rate.

    Args:
        graph: The influence graph (edges ``u -> v``: ``v`` sees ``u``).
        snapshot: The snapshot whose interaction log is used; node ids must match.
        window_s: Time window ``tau`` in seconds (> 0).
        kinds: Interaction kinds that count as adoption.
        smoothing: Prior strength ``m`` (>= 0; 0 gives the raw estimate, nodes without
            actions then get 0).
        prior: The prior mean ``p0``; default: the pooled rate
            ``sum A_{u2v} / sum A_u`` over all edges.

    Returns:
        The graph with learned probabilities and the counts.

    Raises:
        ValueError: on a bad window, kind, smoothing or prior, or when the graph's ids do not
            match the snapshot's users.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    if prior is not None and not 0.0 <= prior <= 1.0:
        raise ValueError(f"prior must be in [0, 1], got {prior!r}")
    codes = []
    for kind in kinds:
        if kind not in INTERACTION_KINDS:
            raise ValueError(f"kinds contains {kind!r}; expected one of {INTERACTION_KINDS}")
        codes.append(INTERACTION_KINDS.index(kind))
    if graph.ids is not None and graph.ids != snapshot.user_ids:
        raise ValueError("graph ids do not match snapshot.user_ids; build it with from_snapshot")
    if graph.num_nodes != snapshot.num_users:
        raise ValueError(
            f"graph has {graph.num_nodes} nodes but the snapshot has {snapshot.num_users} users"
        )

    keep = np.isin(snapshot.inter_kind, codes) & (snapshot.inter_ts != UNKNOWN_TS)
    users = snapshot.inter_user[keep]
    items = snapshot.inter_item[keep]
    ts = snapshot.inter_ts[keep]
    # First adoption time per (user, item); rows sorted by (user, item, ts).
    order = np.lexsort((ts, items, users))
    users, items, ts = users[order], items[order], ts[order]
    first = np.ones(users.shape[0], dtype=bool)
    first[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items, ts = users[first], items[first], ts[first]
    n = graph.num_nodes
    act_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n), out=act_ptr[1:])
    actions = np.diff(act_ptr)

    propagations = count_propagations(
        graph.indptr,
        graph.indices,
        act_ptr,
        items.astype(np.int64),
        ts.astype(np.int64),
        int(window_s),
    )
    src_actions = actions[graph.sources]
    if prior is None:
        total = float(src_actions.sum())
        prior = float(propagations.sum()) / total if total > 0 else 0.0
    denom = src_actions + smoothing
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 0, (propagations + smoothing * prior) / denom, 0.0)
    return LearnedProbabilities(
        graph=graph.with_probabilities(np.clip(p, 0.0, 1.0)),
        actions=actions.astype(np.int64),
        propagations=propagations,
        prior=prior,
    )


@njit(cache=True)
def count_propagations(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    act_ptr: NDArray[np.int64],
    act_item: NDArray[np.int64],
    act_ts: NDArray[np.int64],
    window: int,
) -> NDArray[np.int64]:
    """``A_{u2v}`` per edge ``u -> v``: items adopted by both with ``0 < t_v - t_u <= window``.
    Each node's actions are ``act_ptr[u]:act_ptr[u + 1]`` sorted by item."""
    out = np.zeros(indices.shape[0], dtype=np.int64)
    for u in range(indptr.shape[0] - 1):
        a0 = act_ptr[u]
        a1 = act_ptr[u + 1]
        if a0 == a1:
            continue
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            i = a0
            j = act_ptr[v]
            j1 = act_ptr[v + 1]
            c = 0
            while i < a1 and j < j1:
                if act_item[i] < act_item[j]:
                    i += 1
                elif act_item[i] > act_item[j]:
                    j += 1
                else:
                    dt = act_ts[j] - act_ts[i]
                    if 0 < dt <= window:
                        c += 1
                    i += 1
                    j += 1
            out[e] = c
    return out
