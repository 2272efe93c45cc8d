"""Training losses: Bayesian personalised ranking, the embedding L2 penalty and InfoNCE."""

from __future__ import annotations

from typing import Any

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

    Memory and time are ``O(B^2)`` in the number of rows (the similarity matrix, one buffer:
    :class:`_UnitInfoNCE`).

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
    scaled = F.normalize(view1, dim=1) / temperature
    loss: Tensor = _UnitInfoNCE.apply(scaled, F.normalize(view2, dim=1), 1.0 / temperature)
    return loss


class _UnitInfoNCE(torch.autograd.Function):
    r"""The cross-entropy of the logits :math:`a c^T` against the diagonal, for rows of norm at
    most ``bound`` (``a``) and 1 (``c``), with its gradient, over one ``[B, B]`` buffer.

    Every logit lies in ``[-bound, bound]``, so ``exp(logit - bound)`` never overflows and,
    while ``2 bound < 80``, never underflows: the shift is a constant (folded into the
    product) instead of a row maximum. The buffer holds the shifted exponentials, and the
    gradient is two products with it: :math:`\nabla_a = (P c - c) / B`,
    :math:`\nabla_c = (P^T a - a) / B` with :math:`P` the row-normalised exponentials (the
    normalisation applied to the ``[B, d]`` sides). Versus ``F.cross_entropy`` this saves the
    row maxima, the stored log-probabilities and the one-hot gradient: three to four passes
    over ``B^2`` entries each way.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, c: Tensor, bound: float) -> Tensor:
        shift = bound if 2 * bound < 80 else None
        if shift is None:
            exp = a @ c.T
            peak = exp.amax(dim=1, keepdim=True)
            exp.sub_(peak).exp_()
            offset = peak.squeeze(1)
        else:
            exp = torch.addmm(a.new_full((1, 1), -shift), a, c.T).exp_()
            offset = a.new_full((a.shape[0],), shift)
        total = exp.sum(dim=1)
        ctx.save_for_backward(a, c, exp, total)
        return (total.log() + offset - (a * c).sum(dim=1)).mean()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        a, c, exp, total = ctx.saved_tensors
        scale = grad / a.shape[0]
        grad_a = (exp @ c).div_(total.unsqueeze(1)).sub_(c).mul_(scale)
        grad_c = (exp.T @ (a / total.unsqueeze(1))).sub_(a).mul_(scale)
        return grad_a, grad_c, None
