"""Affinity of every user for a target item, for qualified reach (no routes here).

Calibration: **percentile rank among all users for that item**. With LightGCN scores
``s_u = user_embeddings[u] . item_embeddings[i]``, user ``u``'s affinity is the fraction of
the other users who score lower for item ``i`` (ties count half)::

    affinity_u = (rank_u - 1) / (num_users - 1)   # rank_u: average rank, 1 = lowest score

so it lies in ``[0, 1]``, is 0.5 for the median user and 1 for the user the model ranks first.
It is scale-free (inner products of different items and models are not comparable, ranks
are) and robust to outlying scores. It is a relative propensity, not a purchase probability:
qualified reach is "reached users weighted by how strongly the model prefers them for the item
among all users"; a random audience has qualified reach about half its reach.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import rankdata

from gnn.checkpoint import Checkpoint
from graph.reach.influence_graph import InfluenceGraph


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
