"""Full-ranking evaluation: every item is scored for every evaluated user.

For ``split="valid"`` the user's train items are masked; for ``split="test"`` train and valid
items are. Metrics are averaged over the users with at least one item in the split.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from gnn.data import SPLITS, TrainData
from gnn.metrics import METRICS, ranking_metrics


def _sorted_by_user(pairs: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    user = torch.cat([p[0] for p in pairs])
    item = torch.cat([p[1] for p in pairs])
    order = torch.argsort(user, stable=True)
    return user[order], item[order]


def _rows(user: Tensor, first: int, last: int) -> slice:
    """The slice of a user-sorted array holding users ``first..last``."""
    lo = int(torch.searchsorted(user, first))
    hi = int(torch.searchsorted(user, last, right=True))
    return slice(lo, hi)


def _ranked_batches(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str,
    k: int,
    batch_size: int,
    only_items: Tensor | None = None,
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Yield ``(users [B], top-k item indices [B, k], hits [B, k], relevant counts [B])`` batch
    by batch: ``hits`` says which ranked items are relevant, the counts are each user's
    distinct relevant items. With ``only_items`` (bool ``[num_items]``) only those items are
    relevant and only users with one of them in ``split`` are evaluated.

    Relevance is looked up in the sorted keys ``user * num_items + item`` of the split's
    pairs, so no dense ``[B, num_items]`` relevance matrix is built."""
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    if user_emb.shape[0] != data.num_users or item_emb.shape[0] != data.num_items:
        raise ValueError(
            f"embeddings have {user_emb.shape[0]} users / {item_emb.shape[0]} items, the data "
            f"{data.num_users} / {data.num_items}"
        )
    if not 1 <= k <= data.num_items:
        raise ValueError(f"k must be in [1, {data.num_items}], got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    masked = [data.pairs("train")] + ([data.pairs("valid")] if split == "test" else [])
    mask_user, mask_item = _sorted_by_user(masked)
    target_user, target_item = data.pairs(split)
    if only_items is not None:
        if only_items.shape != (data.num_items,) or only_items.dtype != torch.bool:
            raise ValueError(
                f"only_items must be a bool mask of shape ({data.num_items},), got "
                f"{only_items.dtype} {tuple(only_items.shape)}"
            )
        keep = only_items[target_item]
        target_user, target_item = target_user[keep], target_item[keep]
    target_key = torch.unique(target_user * data.num_items + target_item)  # sorted, distinct
    relevant_count = torch.bincount(target_key // data.num_items, minlength=data.num_users)
    users = torch.unique(target_user)
    position = torch.full((data.num_users,), -1, dtype=torch.long)
    items_t = item_emb.to(torch.float32).T.contiguous()
    for start in range(0, users.numel(), batch_size):
        batch = users[start : start + batch_size]
        position[batch] = torch.arange(batch.numel())
        first, last = int(batch[0]), int(batch[-1])
        scores = user_emb[batch].to(torch.float32) @ items_t
        rows = _rows(mask_user, first, last)
        row = position[mask_user[rows]]
        keep = row >= 0
        scores.index_put_((row[keep], mask_item[rows][keep]), torch.tensor(float("-inf")))
        top = scores.topk(k, dim=1).indices
        key = batch.unsqueeze(1) * data.num_items + top
        found = torch.searchsorted(target_key, key).clamp_(max=target_key.numel() - 1)
        position[batch] = -1
        yield batch, top, target_key[found] == key, relevant_count[batch]


@torch.inference_mode()
def rank(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "valid",
    k: int = 20,
    *,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """The masked top-``k`` lists of every user with items in ``split``.

    Returns:
        ``(users [n], items [n, k])``, users ascending, items best first.
    """
    out = [
        (b, top) for b, top, _, _ in _ranked_batches(user_emb, item_emb, data, split, k, batch_size)
    ]
    if not out:
        return torch.empty(0, dtype=torch.long), torch.empty(0, k, dtype=torch.long)
    return torch.cat([b for b, _ in out]), torch.cat([t for _, t in out])


@torch.inference_mode()
def per_user_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "valid",
    ks: Sequence[int] = (10, 20),
    *,
    batch_size: int = 1024,
    only_items: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Full-ranking metrics of every user with items in ``split``, one value per user.

    Arguments as in :func:`evaluate`; ``only_items`` (bool ``[num_items]``), if given, makes
    only those items relevant (every item is still ranked) and evaluates only the users with
    one of them in ``split``: the metrics of an item slice such as the long tail.

    Returns:
        ``(users [n], {"recall@10": float64 [n], ...})``, users ascending.

    Raises:
        ValueError: on an unknown split, mismatched shapes or a ``k`` out of range.
    """
    if split not in SPLITS or split == "train":
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    if not ks:
        raise ValueError("ks must name at least one cut-off, got none")
    users: list[Tensor] = []
    parts: dict[str, list[Tensor]] = {f"{name}@{k}": [] for k in ks for name in METRICS}
    depth = min(max(ks), data.num_items)  # a cut-off beyond the catalogue ranks everything
    batches = _ranked_batches(user_emb, item_emb, data, split, depth, batch_size, only_items)
    for batch, _, hits, relevant_count in batches:
        if depth < max(ks):
            hits = torch.nn.functional.pad(hits, (0, max(ks) - depth))
        for name, values in ranking_metrics(hits, relevant_count, ks).items():
            parts[name].append(values)
        users.append(batch)
    if not users:
        empty = torch.empty(0, dtype=torch.float64)
        return torch.empty(0, dtype=torch.long), {name: empty for name in parts}
    return torch.cat(users), {name: torch.cat(values) for name, values in parts.items()}


def evaluate(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "valid",
    ks: Sequence[int] = (10, 20),
    *,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full-ranking Recall, NDCG, Precision, Hit and MRR at each ``k`` in ``ks``.

    Args:
        user_emb: final user embeddings ``[num_users, d]``.
        item_emb: final item embeddings ``[num_items, d]``.
        data: the split (``data.pairs(split)`` are the relevant items).
        split: ``"valid"`` (train items masked) or ``"test"`` (train and valid masked).
        ks: cut-offs.
        batch_size: users scored per dense matmul.

    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., ...}`` averaged over users with items in
        ``split`` (all 0.0 when there are none).

    Raises:
        ValueError: on an unknown split, mismatched shapes or a ``k`` out of range.
    """
    users, values = per_user_metrics(user_emb, item_emb, data, split, ks, batch_size=batch_size)
    if users.numel() == 0:
        return {name: 0.0 for name in values}
    return {name: float(v.sum()) / users.numel() for name, v in values.items()}


def catalogue_coverage(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "test",
    k: int = 10,
    *,
    batch_size: int = 1024,
) -> float:
    """Catalogue coverage@k: the share of all items that appear in at least one masked
    top-``k`` list of the users evaluated on ``split``.

    Raises:
        ValueError: on an unknown split, mismatched shapes or a ``k`` out of range.
    """
    _, top = rank(user_emb, item_emb, data, split, k, batch_size=batch_size)
    return float(torch.unique(top).numel()) / data.num_items
