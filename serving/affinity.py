"""Affinity of users for an item, the weights of qualified reach.

The affinity is a **purchase probability**: the model's score
``s_u = user_embeddings[u] . item_embeddings[i]`` goes through the isotonic map of
:func:`gnn.calibration.fit_purchase_calibration`, fitted on the checkpoint's validation pairs:
``P(item among the user's next held-out interactions | score)``. Qualified reach is then the
expected number of reached users who go on to interact with the item in such a period ("likely
buyers"). When the checkpoint's split cannot be rebuilt from the served snapshot (another
snapshot), affinity falls back to the **percentile rank** of the score among all users
(:func:`percentile_affinity`: 0.5 for the median user, a relative propensity, not a
probability), and responses say which one was used.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import rankdata

from gnn.calibration import PurchaseCalibration, fit_purchase_calibration
from gnn.checkpoint import Checkpoint, checkpoint_data
from graph.reach.influence_graph import InfluenceGraph
from graph.snapshot import Snapshot

#: How affinities are made, as responses describe them.
PURCHASE_PROBABILITY: Final[str] = (
    "purchase probability: P(item among the user's next held-out interactions | model score), "
    "isotonic on the model's validation pairs"
)
PERCENTILE_RANK: Final[str] = (
    "percentile rank of the model score for the item among all users, in [0, 1]"
)


def fit_purchase(
    checkpoint: Checkpoint | None, snapshot: Snapshot
) -> tuple[PurchaseCalibration | None, str]:
    """The purchase calibration of ``checkpoint`` on its own validation split and how
    affinities are made; ``None`` (percentile ranks) without a checkpoint or when that split
    cannot be rebuilt from ``snapshot``."""
    if checkpoint is None:
        return None, PERCENTILE_RANK
    try:
        data = checkpoint_data(checkpoint, snapshot)
        purchase = fit_purchase_calibration(
            checkpoint.user_embeddings, checkpoint.item_embeddings, data
        )
    except ValueError as exc:
        return None, f"{PERCENTILE_RANK} (no purchase calibration: {exc})"
    return purchase, PURCHASE_PROBABILITY


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
