"""Training losses: Bayesian personalised ranking, the embedding L2 penalty and InfoNCE."""

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


def info_nce(view1: Tensor, view2: Tensor, temperature: float) -> Tensor:
    r"""InfoNCE between two views of the same ``B`` nodes, with cosine similarity as in SimGCL
    (`"Are Graph Augmentations Necessary?" <https://arxiv.org/abs/2112.08679>`_, Yu et al.,
    SIGIR 2022): row ``b`` of ``view2`` is the positive of row ``b`` of ``view1`` and the other
    rows of ``view2`` are its negatives,

    .. math::
        -\frac{1}{B} \sum_b \log \frac{\exp(\cos(z_b, z'_b) / \tau)}
            {\sum_j \exp(\cos(z_b, z'_j) / \tau)}.

    Memory is ``O(B^2)`` in the number of rows (the similarity matrix).

    Args:
        view1: ``[B, d]`` embeddings.
        view2: ``[B, d]`` embeddings of the same nodes in another view.
        temperature: :math:`\tau > 0`.

    Raises:
        ValueError: if the views are not 2-D of equal shape or ``temperature`` is not positive.
    """
    if view1.dim() != 2 or view1.shape != view2.shape:
        raise ValueError(
            f"view1 and view2 must be 2-D of equal shape, got {tuple(view1.shape)} and "
            f"{tuple(view2.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # Scale the [B, d] side rather than the [B, B] logits: one pass less over B^2 entries.
    logits = (F.normalize(view1, dim=1) / temperature) @ F.normalize(view2, dim=1).T
    return F.cross_entropy(logits, torch.arange(view1.shape[0], device=view1.device))
