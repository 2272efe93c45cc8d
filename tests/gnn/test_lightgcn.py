"""LightGCN propagation against a dense reference on tiny graphs."""

from __future__ import annotations

import pytest
import torch

from gnn.data import normalized_adjacency
from gnn.models.lightgcn import LightGCN

USER = torch.tensor([0, 0, 1, 2, 2, 3])
ITEM = torch.tensor([0, 1, 1, 2, 3, 3])
NUM_USERS, NUM_ITEMS = 5, 4  # user 4 has no interactions


def _dense_reference(model: LightGCN, adj: torch.Tensor) -> torch.Tensor:
    dense = adj.to_dense()
    x = model.embedding.weight
    layers = [x]
    for _ in range(model.num_layers):
        layers.append(dense @ layers[-1])
    return torch.stack(layers).mean(0)


@pytest.mark.parametrize("num_layers", [0, 1, 3])
@pytest.mark.parametrize("dim", [1, 8])
def test_propagation_equals_dense_reference(num_layers: int, dim: int) -> None:
    adj = normalized_adjacency(USER, ITEM, NUM_USERS, NUM_ITEMS)
    model = LightGCN(NUM_USERS, NUM_ITEMS, dim, num_layers)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    got = model.get_embedding(adj)
    expected = _dense_reference(model, adj)
    assert got.shape == (NUM_USERS + NUM_ITEMS, dim)
    torch.testing.assert_close(got, expected)
    # The isolated user keeps only its own layer-0 share.
    torch.testing.assert_close(got[4], model.embedding.weight[4] / (num_layers + 1))


def test_gradients_equal_dense_reference() -> None:
    adj = normalized_adjacency(USER, ITEM, NUM_USERS, NUM_ITEMS)
    model = LightGCN(NUM_USERS, NUM_ITEMS, 4, 3)
    model.reset_parameters(generator=torch.Generator().manual_seed(1))
    users, items = torch.tensor([0, 1, 3]), torch.tensor([[0, 2], [1, 3], [3, 0]])
    model(adj, users, items).pow(2).sum().backward()
    assert model.embedding.weight.grad is not None
    got = model.embedding.weight.grad.clone()
    model.embedding.weight.grad = None
    emb = _dense_reference(model, adj)
    scores = (emb[users].unsqueeze(1) * emb[items + NUM_USERS]).sum(-1)
    scores.pow(2).sum().backward()
    torch.testing.assert_close(got, model.embedding.weight.grad)


def test_forward_scores_and_recommend() -> None:
    adj = normalized_adjacency(USER, ITEM, NUM_USERS, NUM_ITEMS)
    model = LightGCN(NUM_USERS, NUM_ITEMS, 8, 2)
    emb = model.get_embedding(adj)
    u, i = emb[:NUM_USERS], emb[NUM_USERS:]
    users = torch.tensor([0, 2])
    pairs = model(adj, users, torch.tensor([1, 3]))
    torch.testing.assert_close(pairs, torch.stack([u[0] @ i[1], u[2] @ i[3]]))
    both = model(adj, users, torch.tensor([[1, 0], [3, 2]]))
    assert both.shape == (2, 2)
    torch.testing.assert_close(both[:, 0], pairs)
    top = model.recommend(adj, users, k=4)
    expected = torch.argsort(u[users] @ i.T, dim=1, descending=True)
    assert top.tolist() == expected.tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_users": 0, "num_items": 3},
        {"num_users": 3, "num_items": 0},
        {"num_users": 3, "num_items": 3, "embedding_dim": 0},
        {"num_users": 3, "num_items": 3, "num_layers": -1},
    ],
)
def test_constructor_rejects_bad_sizes(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LightGCN(**kwargs)


def test_recommend_rejects_bad_k() -> None:
    adj = normalized_adjacency(USER, ITEM, NUM_USERS, NUM_ITEMS)
    with pytest.raises(ValueError, match="k must be"):
        LightGCN(NUM_USERS, NUM_ITEMS, 4, 1).recommend(adj, torch.tensor([0]), k=5)
