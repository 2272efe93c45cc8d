"""Trivial reference recommenders, scored with the same full-ranking code as the models.

A learned model is only worth serving if it beats these on the validation split; see the
baseline guard of :func:`gnn.train.train`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gnn.data import TrainData
from gnn.evaluate import evaluate


def popularity_embeddings(data: TrainData) -> tuple[Tensor, Tensor]:
    """Embeddings whose scores rank items by training popularity for every user.

    Every user is ``[1.0]`` and every item its count of training interactions, so the score of
    ``(user, item)`` is the item's training count; the usual masking of seen items applies.

    Returns:
        ``(user_emb [num_users, 1], item_emb [num_items, 1])``, float32.
    """
    counts = torch.bincount(data.train_item, minlength=data.num_items).to(torch.float32)
    return torch.ones(data.num_users, 1), counts[:, None]


def popularity_metrics(
    data: TrainData,
    split: str = "valid",
    ks: Sequence[int] = (10, 20),
    *,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full-ranking metrics of the popularity baseline on ``split`` (:func:`gnn.evaluate.evaluate`).

    Raises:
        ValueError: on an unknown split or a ``k`` out of range.
    """
    user_emb, item_emb = popularity_embeddings(data)
    return evaluate(user_emb, item_emb, data, split, ks, batch_size=batch_size)
