"""Top-K ranking metrics (RecBole / LightGCN definitions), per user.

Every function takes ``hits``, a bool ``[num_users, >= k]`` matrix whose entry ``(u, r)``
says whether the item ranked ``r`` (0-based) for user ``u`` is relevant, and ``num_relevant``,
the ``[num_users]`` count of relevant items of each user (all of them, not only those ranked).
Each returns a float ``[num_users]`` tensor; average it over the evaluated users.

* Recall@K = hits in the top K / ``num_relevant``
* Precision@K = hits in the top K / K
* NDCG@K = DCG / IDCG with binary gains ``1 / log2(rank + 2)``; the ideal DCG places
  ``min(K, num_relevant)`` relevant items first
* Hit@K = 1 if any of the top K is relevant
* MRR@K = 1 / (1-based rank of the first relevant item in the top K), 0 if none
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor


def _top(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    if hits.dim() != 2:
        raise ValueError(f"hits must be 2-D [num_users, ranks], got shape {tuple(hits.shape)}")
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(f"k must be in [1, {hits.shape[1]}] (ranks given), got {k}")
    if num_relevant.shape != hits.shape[:1]:
        raise ValueError(
            f"num_relevant must have shape [{hits.shape[0]}], got {tuple(num_relevant.shape)}"
        )
    if bool((num_relevant < 1).any()):
        raise ValueError("num_relevant must be >= 1 for every user (evaluate only such users)")
    return hits[:, :k].to(torch.float64)


def recall_at_k(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    """Recall@K per user: relevant items in the top ``k`` / all relevant items."""
    return _top(hits, num_relevant, k).sum(1) / num_relevant.to(torch.float64)


def precision_at_k(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    """Precision@K per user: relevant items in the top ``k`` / ``k``."""
    return _top(hits, num_relevant, k).sum(1) / k


def hit_at_k(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    """Hit@K per user: 1.0 if any of the top ``k`` is relevant, else 0.0."""
    return (_top(hits, num_relevant, k).sum(1) > 0).to(torch.float64)


def mrr_at_k(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    """MRR@K per user: reciprocal 1-based rank of the first relevant item in the top ``k``."""
    top = _top(hits, num_relevant, k)
    first = top.argmax(1)  # first maximum = first hit when there is one
    return torch.where(top.sum(1) > 0, 1.0 / (first + 1).to(torch.float64), 0.0)


def ndcg_at_k(hits: Tensor, num_relevant: Tensor, k: int) -> Tensor:
    """NDCG@K per user with binary relevance; ideal DCG over ``min(k, num_relevant)`` ranks."""
    top = _top(hits, num_relevant, k)
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    dcg = (top * discount).sum(1)
    ideal = torch.cumsum(discount, 0)[num_relevant.clamp(max=k).long() - 1]
    return dcg / ideal


METRICS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "precision": precision_at_k,
    "hit": hit_at_k,
    "mrr": mrr_at_k,
}


def ranking_metrics(hits: Tensor, num_relevant: Tensor, ks: Iterable[int]) -> dict[str, Tensor]:
    """Every metric of :data:`METRICS` at every ``k``, keyed ``"<name>@<k>"``, per user."""
    return {f"{name}@{k}": fn(hits, num_relevant, k) for k in ks for name, fn in METRICS.items()}
