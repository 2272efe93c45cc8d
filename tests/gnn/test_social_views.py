"""The social model's contrastive views computed at the batch's nodes only: the noise stream
drawn by position, the row block of the operator, and offsets, loss and gradients equal to the
full computation over every node (the former implementation, kept here as the reference)."""

from __future__ import annotations

import pytest
import torch

from gnn.config import TrainConfig
from gnn.data import normalized_adjacency, normalized_social_adjacency
from gnn.losses import info_nce
from gnn.models.lightgcn import csr_mm, layer_outputs
from gnn.models.noise import hashed_bytes, row_bytes
from gnn.models.social import SocialLightGCN, _live_rows, _row_block
from gnn.train import BatchObjective

USERS, ITEMS = 40, 55


def _world(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random graph with isolated users and items: ``(adj, social_adj, users, items)``."""
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(USERS - 3, (300,), generator=gen)  # the last 3 users: no items
    item = torch.randint(ITEMS - 4, (300,), generator=gen)  # the last 4 items: no users
    src = torch.randint(USERS - 1, (60,), generator=gen)  # the last user: no friends either
    dst = torch.randint(USERS - 1, (60,), generator=gen)
    adj = normalized_adjacency(user, item, USERS, ITEMS)
    social = normalized_social_adjacency(src, dst, USERS)
    return adj, social, user, item


def _model(dim: int, layers: int, eps: float = 0.2) -> SocialLightGCN:
    model = SocialLightGCN(USERS, ITEMS, dim, layers, 0.3, ssl_weight=0.4, ssl_eps=eps)
    model.reset_parameters(generator=torch.Generator().manual_seed(1))
    return model


def _full_offsets_reference(
    model: SocialLightGCN, matrix: torch.Tensor, layers: list[torch.Tensor], key: int
) -> torch.Tensor:
    """``[N, 2, d]`` offsets of both views at every node: the former implementation (every
    layer of both views over all nodes, noise drawn for the whole table at once)."""
    nodes, dim = layers[0].shape
    noise = hashed_bytes(key, (len(layers) - 1) * nodes * 2 * dim).view(-1, nodes, 2, dim)
    total = layers[0].new_zeros(nodes, 2, dim)
    view = total
    for layer in range(1, len(layers)):
        if layer == 1:
            output = layers[1].unsqueeze(1).expand(nodes, 2, dim)
        else:
            output = csr_mm(matrix, view.reshape(nodes, 2 * dim)).view(nodes, 2, dim)
        step = noise[layer - 1].float() + 0.5
        step = step / torch.linalg.vector_norm(step, dim=2, keepdim=True)
        step = step.copysign(output)
        live = torch.linalg.vector_norm(output, dim=2, keepdim=True) > 0
        view = output + step * live * model.ssl_eps
        total = total + view - layers[layer].unsqueeze(1)
    return total / len(layers)


@pytest.mark.parametrize("start", [0, 3, 8, 13])
def test_hashed_bytes_from_any_start_is_a_slice_of_the_stream(start: int) -> None:
    stream = hashed_bytes(99, 200)
    assert torch.equal(hashed_bytes(99, 150, start=start), stream[start : start + 150])


@pytest.mark.parametrize(("base", "width"), [(0, 16), (64, 8), (6, 16), (0, 6), (10, 10)])
def test_row_bytes_are_the_rows_of_the_stream(base: int, width: int) -> None:
    stream = hashed_bytes(5, base + 30 * width)
    rows = torch.tensor([7, 0, 29, 7, 3])
    expected = torch.stack([stream[base + r * width : base + (r + 1) * width] for r in rows])
    assert torch.equal(row_bytes(5, base, rows, width), expected)


def test_row_block_and_live_rows_match_the_dense_matrix() -> None:
    adj, social, _, _ = _world()
    matrix = _model(4, 2).propagation(adj, social).matrix
    rows = torch.tensor([3, USERS + 2, 0, USERS - 1])
    dense = matrix.to_dense()
    assert torch.equal(_row_block(matrix, rows).to_dense(), dense[rows])
    assert torch.equal(_live_rows(matrix), dense.ne(0).any(1))
    assert not bool(_live_rows(matrix)[USERS - 1])  # no items, no friends


@pytest.mark.parametrize(("dim", "num_layers"), [(8, 3), (5, 2), (8, 1), (6, 4)])
def test_offsets_at_the_batch_nodes_equal_the_full_computation(dim: int, num_layers: int) -> None:
    adj, social, _, _ = _world()
    model = _model(dim, num_layers)
    matrix = model.propagation(adj, social).matrix
    with torch.no_grad():
        layers = layer_outputs(matrix, model.embedding.weight, num_layers)
        full = _full_offsets_reference(model, matrix, layers, key=1234)
        rows = torch.tensor([0, 5, USERS - 1, USERS + 3, USERS + ITEMS - 1, 12])
        got = model._view_offsets(matrix, layers, 1234, rows)
    torch.testing.assert_close(got, full[rows])
    assert not bool(got[2].any()) and not bool(got[4].any())  # isolated nodes: no noise


def test_loss_and_gradients_equal_the_full_computation() -> None:
    adj, social, user, item = _world()
    model = _model(8, 3)
    graph = model.propagation(adj, social)
    batch = torch.randperm(user.numel(), generator=torch.Generator().manual_seed(2))[:64]
    users, items = user[batch], item[batch]
    emb, loss = model.embedding_and_ssl_loss(graph, users, items, torch.Generator().manual_seed(7))
    (emb[:, 1].sum() + loss).backward()
    got = model.embedding.weight.grad
    assert got is not None

    reference = _model(8, 3)
    reference.load_state_dict(model.state_dict())
    key = int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(7)))
    with torch.no_grad():
        layers = layer_outputs(graph.matrix, reference.embedding.weight, 3)
        offsets = _full_offsets_reference(reference, graph.matrix, layers, key)
    clean = reference.get_embedding(graph)
    expected = clean.new_zeros(())
    for nodes in (torch.unique(users), torch.unique(items) + USERS):
        rows = clean[nodes]
        expected = expected + info_nce(rows + offsets[nodes, 0], rows + offsets[nodes, 1], 0.2)
    expected = 0.4 * expected
    torch.testing.assert_close(emb, clean)
    torch.testing.assert_close(loss, expected)
    (clean[:, 1].sum() + expected).backward()
    torch.testing.assert_close(got, reference.embedding.weight.grad)


def test_ssl_rows_contrasts_the_first_pairs_of_the_batch() -> None:
    adj, social, user, item = _world()
    model = _model(8, 2)
    graph = model.propagation(adj, social)
    neg = torch.randint(ITEMS, (user.numel(),), generator=torch.Generator().manual_seed(3))
    objective = BatchObjective(model, (graph,), 0.0, torch.Generator().manual_seed(4), ssl_rows=50)
    _, ssl = objective(user, item, neg, slice(None))
    _, expected = model.embedding_and_ssl_loss(
        graph, user[:50], item[:50], torch.Generator().manual_seed(4)
    )
    assert ssl is not None
    torch.testing.assert_close(ssl, expected)
    with pytest.raises(ValueError, match="ssl_rows"):
        TrainConfig(model="social", ssl_rows=0).validate()
    assert TrainConfig.from_dict(TrainConfig(ssl_rows=64).to_dict()).ssl_rows == 64
