"""Training losses: Bayesian personalised ranking and the embedding L2 penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    r"""Bayesian personalised ranking loss from `"BPR: Bayesian Personalized Ranking from
    Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_.

    :math:`-\frac{1}{B} \sum_b \log \sigma(s^+_b - s^-_b)`.

    Args:
        pos_scores: ``[B]`` scores of observed pairs.
        neg_scores: ``[B]`` scores of sampled negative pairs.

    Raises:
        ValueError: if the shapes differ.
    """
    if pos_scores.shape != neg_scores.shape:
        raise ValueError(
            f"pos_scores and neg_scores must have equal shapes, got {tuple(pos_scores.shape)} "
            f"and {tuple(neg_scores.shape)}"
        )
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def l2_reg(*embeddings: Tensor) -> Tensor:
    r"""L2 penalty on layer-0 embeddings of a batch, RecBole style:
    :math:`\frac{1}{2B} \sum_t \lVert E_t \rVert_F^2` with ``B`` the rows of the first tensor.

    Args:
        *embeddings: ``[B, d]`` tensors (e.g. user, positive item, negative item).

    Raises:
        ValueError: if no tensor is given.
    """
    if not embeddings:
        raise ValueError("l2_reg needs at least one embedding tensor, got none")
    total = torch.stack([e.pow(2).sum() for e in embeddings]).sum()
    return total / (2 * embeddings[0].shape[0])
