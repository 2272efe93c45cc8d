"""LightGCN over a pre-normalised sparse propagation matrix (its layer mean by Horner's rule)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn import Embedding


def pair_scores(emb: Tensor, num_users: int, user_index: Tensor, item_index: Tensor) -> Tensor:
    """Inner-product scores of user-item pairs from final node embeddings.

    Args:
        emb: ``[U + I, d]`` final embeddings, users first.
        num_users: ``U``.
        user_index: ``[B]`` user indices.
        item_index: ``[B]`` or ``[B, n]`` item indices (e.g. positive and negatives).

    Returns:
        Scores with the shape of ``item_index``.
    """
    rows = emb.index_select(0, torch.cat([user_index, item_index.reshape(-1) + num_users]))
    user, item = rows[: user_index.numel()], rows[user_index.numel() :]
    if item_index.dim() == 2:
        item = item.view(*item_index.shape, -1)
        return (user.unsqueeze(1) * item).sum(-1)
    return (user * item).sum(-1)


def csr_mm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` for a CSR ``adj``: torch's row-parallel CSR kernel (``reduce="sum"``) on the
    CPU, where it is the fastest; cuSPARSE on a GPU (that kernel is CPU-only)."""
    return torch.sparse.mm(adj, x, "sum") if adj.is_cpu else adj @ x


def layer_mean(adj: Tensor, x: Tensor, num_layers: int) -> Tensor:
    r"""The LightGCN layer mean :math:`\frac{1}{L+1} \sum_{l=0}^{L} \hat{A}^l x` (no autograd).

    Evaluated by Horner's rule, :math:`x + \hat{A}(x + \hat{A}(x + \hat{A} x))` for
    :math:`L = 3`: one fused product-and-add (``torch.addmm``) per layer, no per-layer sums, and
    the last product also applies the :math:`1/(L+1)` scale.

    Args:
        adj: sparse CSR :math:`\hat{A}`, ``[N, N]``.
        x: ``[N, d]`` dense.
        num_layers: ``L >= 0``.
    """
    scale = 1.0 / (num_layers + 1)
    out = x
    for layer in range(num_layers):
        weight = scale if layer == num_layers - 1 else 1.0
        out = torch.addmm(x, adj, out, beta=weight, alpha=weight)
    return out if num_layers else x * scale


def layer_outputs(adj: Tensor, x: Tensor, num_layers: int) -> list[Tensor]:
    r"""The layers :math:`x, \hat{A} x, \dots, \hat{A}^L x` one by one (no autograd): ``L``
    products, like :func:`layer_mean`, when the layers themselves are needed."""
    layers = [x]
    for _ in range(num_layers):
        layers.append(csr_mm(adj, layers[-1]))
    return layers


class Propagation(NamedTuple):
    """A propagation matrix that is not symmetric, with its transpose (the adjoint that the
    backward pass multiplies by), both sparse CSR ``[N, N]``. LightGCN's symmetric
    adjacency is its own adjoint and is passed as a plain tensor instead."""

    matrix: Tensor
    adjoint: Tensor

    def to(self, device: torch.device | str) -> Propagation:
        """Both matrices on ``device``."""
        return Propagation(self.matrix.to(device), self.adjoint.to(device))


#: What :meth:`LightGCN.get_embedding` propagates with: a symmetric matrix or a
#: :class:`Propagation`.
Graph = Tensor | Propagation


def matrices(graph: Graph) -> tuple[Tensor, Tensor]:
    """``(matrix, adjoint)`` of ``graph``."""
    return (graph, graph) if isinstance(graph, Tensor) else (graph.matrix, graph.adjoint)


class _LayerMean(torch.autograd.Function):
    """:func:`layer_mean` with its gradient. The layer mean is a polynomial in the matrix, so
    its adjoint is the same polynomial in the matrix's transpose: the backward is
    :func:`layer_mean` of the gradient over ``adjoint`` (``num_layers`` products; nothing is
    saved from the forward but ``adjoint``). ``value``, when given, is the layer mean
    already computed without autograd (see :meth:`LightGCN.get_embedding`) and is returned as
    is."""

    @staticmethod
    def forward(
        ctx: Any, adj: Tensor, adjoint: Tensor, x: Tensor, num_layers: int, value: Tensor | None
    ) -> Tensor:
        ctx.adjoint, ctx.num_layers = adjoint, num_layers
        return layer_mean(adj, x, num_layers) if value is None else value

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor, None, None]:
        return None, None, layer_mean(ctx.adjoint, grad.contiguous(), ctx.num_layers), None, None


class LightGCN(torch.nn.Module):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et al., SIGIR 2020).

    Users are nodes ``0..num_users-1`` and items nodes ``num_users..num_users+num_items-1``
    of one bipartite graph. Each layer propagates
    :math:`\mathbf{E}^{(l+1)} = \hat{A} \mathbf{E}^{(l)}` with the symmetric-normalised
    adjacency :math:`\hat{A}` (PyG's ``LGConv`` with ``normalize=True``), and the final
    embedding is the layer mean :math:`\mathbf{E} = \frac{1}{L+1} \sum_{l=0}^{L}
    \mathbf{E}^{(l)}`. A user-item score is the inner product of their final embeddings.

    The layer mean is evaluated as one polynomial in :math:`\hat{A}` (:func:`layer_mean`,
    Horner's rule) with a hand-written backward: ``L`` fused sparse products each way and no
    per-layer autograd graph (a stack of per-layer sparse products cost ~13% more per LastFM
    epoch). Any other linear propagation (:class:`Propagation`, e.g. the social model's) reuses
    it. ``benchmarks/lastfm.py --full`` times it against PyG's stock LightGCN.

    Args:
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: embedding size (default 64).
        num_layers: number of propagation layers ``L`` (default 3).

    Raises:
        ValueError: if a size is not positive or ``num_layers`` is negative.
    """

    def __init__(
        self, num_users: int, num_items: int, embedding_dim: int = 64, num_layers: int = 3
    ) -> None:
        super().__init__()
        for name, value in (
            ("num_users", num_users),
            ("num_items", num_items),
            ("embedding_dim", embedding_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.embedding = Embedding(num_users + num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Xavier-uniform initialisation of the layer-0 embeddings (seeded by ``generator``),
        with the user and item blocks scaled as two separate tables (as in the reference
        implementations, whose users and items are separate ``Embedding`` modules)."""
        with torch.no_grad():
            weight = self.embedding.weight
            torch.nn.init.xavier_uniform_(weight[: self.num_users], generator=generator)
            torch.nn.init.xavier_uniform_(weight[self.num_users :], generator=generator)

    def get_embedding(self, adj: Graph, *, value: Tensor | None = None) -> Tensor:
        """Final (layer-mean) embeddings of all nodes.

        Args:
            adj: the propagation matrix, sparse ``[U + I, U + I]``: LightGCN's symmetric
                normalised adjacency, or a :class:`Propagation` (a matrix and its adjoint).
            value: the layer mean of the current weights if already computed without
                autograd (e.g. with :func:`layer_outputs`); returned with the layer mean's
                gradient, saving the forward products.

        Returns:
            ``[U + I, embedding_dim]``; rows ``:U`` are users, rows ``U:`` items.
        """
        matrix, adjoint = matrices(adj)
        out: Tensor = _LayerMean.apply(
            matrix, adjoint, self.embedding.weight, self.num_layers, value
        )
        return out

    def forward(self, adj: Graph, user_index: Tensor, item_index: Tensor) -> Tensor:
        """Scores of user-item pairs after one propagation.

        Args:
            adj: the propagation matrix (see :meth:`get_embedding`).
            user_index: ``[B]`` user indices.
            item_index: ``[B]`` or ``[B, n]`` item indices (e.g. positive and negatives).

        Returns:
            Scores with the shape of ``item_index``.
        """
        return pair_scores(self.get_embedding(adj), self.num_users, user_index, item_index)

    @torch.no_grad()
    def recommend(self, adj: Graph, user_index: Tensor, k: int) -> Tensor:
        """Indices ``[B, k]`` of the ``k`` best-scoring items of each user, best first.

        Nothing is masked: callers exclude seen items (see :func:`gnn.evaluate.evaluate`).

        Raises:
            ValueError: if ``k`` is not in ``[1, num_items]``.
        """
        if not 1 <= k <= self.num_items:
            raise ValueError(f"k must be in [1, {self.num_items}], got {k}")
        emb = self.get_embedding(adj)
        scores = emb[user_index] @ emb[self.num_users :].T
        return scores.topk(k, dim=-1).indices

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_users={self.num_users}, num_items={self.num_items}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers})"
        )
