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
    :class:`_InfoNCE`).

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
    loss: Tensor = _InfoNCE.apply(view1, view2, 1.0 / temperature)
    return loss


#: ``F.normalize``'s floor on a norm.
_NORM_FLOOR = 1e-12


class _InfoNCE(torch.autograd.Function):
    r""":func:`info_nce` with a hand-written gradient over one ``[B, B]`` buffer.

    With :math:`z = v / \max(\lVert v \rVert, 10^{-12})` per row (``F.normalize``) and
    :math:`\kappa = 1/\tau`, the logits :math:`\kappa z z'^T` lie in :math:`[-\kappa, \kappa]`,
    so ``exp(logit - kappa)`` never overflows and, while :math:`2\kappa < 80`, never underflows:
    the shift is a constant folded into the product instead of a row maximum. The buffer holds
    the shifted exponentials :math:`X`, and with :math:`P` the row-normalised :math:`X` the
    gradient is :math:`\nabla_z = \kappa (P z' - z') / B`,
    :math:`\nabla_{z'} = \kappa (P^T z - z) / B`, then through the normalisation
    :math:`\nabla_v = (\nabla_z - z (z \cdot \nabla_z)) / \lVert v \rVert` (without the
    projection where the floor applies). Versus autograd over ``F.normalize`` and
    ``F.cross_entropy`` this saves the row maxima, the stored log-probabilities, the one-hot
    gradient and the normalisation's own graph: about half the passes over the ``[B, d]``
    sides and three to four over the ``B^2`` entries each way.
    """

    @staticmethod
    def forward(ctx: Any, view1: Tensor, view2: Tensor, kappa: float) -> Tensor:
        norm1 = torch.linalg.vector_norm(view1, dim=1, keepdim=True).clamp_(min=_NORM_FLOOR)
        norm2 = torch.linalg.vector_norm(view2, dim=1, keepdim=True).clamp_(min=_NORM_FLOOR)
        z1, z2 = view1 / norm1, view2 / norm2
        if 2 * kappa < 80:
            exp = torch.addmm(z1.new_full((1, 1), -kappa), z1, z2.T, alpha=kappa).exp_()
            offset = z1.new_full((z1.shape[0],), kappa)
        else:
            exp = torch.mm(z1, z2.T).mul_(kappa)
            peak = exp.amax(dim=1, keepdim=True)
            exp.sub_(peak).exp_()
            offset = peak.squeeze(1)
        total = exp.sum(dim=1)
        ctx.kappa = kappa
        ctx.save_for_backward(z1, z2, norm1, norm2, exp, total)
        return (total.log().add_(offset) - kappa * (z1 * z2).sum(dim=1)).mean()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        z1, z2, norm1, norm2, exp, total = ctx.saved_tensors
        scale = grad * ctx.kappa / z1.shape[0]
        share = total.reciprocal().unsqueeze(1)
        grad1 = torch.mm(exp, z2).mul_(share).sub_(z2).mul_(scale)
        grad2 = torch.mm(exp.T, z1 * share).sub_(z1).mul_(scale)
        return _through_norm(grad1, z1, norm1), _through_norm(grad2, z2, norm2), None


def _through_norm(grad: Tensor, unit: Tensor, norm: Tensor) -> Tensor:
    """The gradient of ``v / max(|v|, floor)`` (``unit``, ``norm``) given the gradient of the
    unit rows, in place of ``grad``."""
    along = (unit * grad).sum(dim=1, keepdim=True).mul_(norm > _NORM_FLOOR)
    return grad.sub_(unit * along).div_(norm)
