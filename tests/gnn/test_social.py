"""SocialLightGCN on tiny graphs, the friend-graph adjacency, training, checkpoints and reports
(serving a trained model: tests/serving/test_trained_social.py; the CLI:
tests/socialrec/test_train_social_cli.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gnn.checkpoint import to_checkpoint
from gnn.config import MODEL_DEFAULTS, TrainConfig
from gnn.data import TrainData, normalized_adjacency, normalized_social_adjacency
from gnn.losses import info_nce
from gnn.models.lightgcn import LightGCN, Propagation
from gnn.models.noise import hashed_bytes
from gnn.models.social import SocialLightGCN
from gnn.report import build_report, write_report
from gnn.train import TrainResult, build_model, train
from graph.snapshot import Snapshot
from tests.gnn.worlds import SOCIAL_CONFIG as CONFIG
from tests.gnn.worlds import social_snapshot

USER = torch.tensor([0, 0, 1, 2, 2, 3])
ITEM = torch.tensor([0, 1, 1, 2, 3, 3])
NUM_USERS, NUM_ITEMS = 5, 4  # user 4 has no interactions
SRC = torch.tensor([0, 1, 2, 4])
DST = torch.tensor([1, 0, 3, 4])  # 0-1 both ways, 2->3 one way, a self-loop on 4


def _graphs(src: torch.Tensor = SRC, dst: torch.Tensor = DST) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        normalized_adjacency(USER, ITEM, NUM_USERS, NUM_ITEMS),
        normalized_social_adjacency(src, dst, NUM_USERS),
    )


def _model(
    num_layers: int = 2, dim: int = 4, social_weight: float = 0.5, fusion: str = "fixed"
) -> SocialLightGCN:
    model = SocialLightGCN(NUM_USERS, NUM_ITEMS, dim, num_layers, social_weight, fusion)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    return model


def _dense_reference(
    model: SocialLightGCN, adj: torch.Tensor, social: torch.Tensor
) -> torch.Tensor:
    return torch.stack(_dense_layers(model, adj, social)).mean(0)


def _dense_layers(
    model: SocialLightGCN, adj: torch.Tensor, social: torch.Tensor
) -> list[torch.Tensor]:
    a, s = adj.to_dense(), social.to_dense()
    ties = (s != 0).sum(1, keepdim=True).float()
    items = (a[:NUM_USERS] != 0).sum(1, keepdim=True).float()
    if model.fusion == "fixed":
        beta = (ties > 0).float() * model.social_weight
    else:
        beta = model.social_weight * ties / (ties + items).clamp(min=1)
    x = model.embedding.weight
    layers = [x]
    for _ in range(model.num_layers):
        h = a @ layers[-1]
        user = (1 - beta) * h[:NUM_USERS] + beta * (s @ layers[-1][:NUM_USERS])
        layers.append(torch.cat([user, h[NUM_USERS:]]))
    return layers


def test_social_adjacency_is_symmetric_normalised() -> None:
    social = normalized_social_adjacency(SRC, DST, NUM_USERS).to_dense()
    expected = torch.zeros(NUM_USERS, NUM_USERS)
    expected[0, 1] = expected[1, 0] = 1.0  # degree 1 each
    expected[2, 3] = expected[3, 2] = 1.0  # the one-way edge is made mutual
    torch.testing.assert_close(social, expected)  # the self-loop is dropped
    two = normalized_social_adjacency(torch.tensor([0, 0]), torch.tensor([1, 2]), 3).to_dense()
    assert two[0, 1] == pytest.approx(1 / np.sqrt(2))
    with pytest.raises(ValueError, match="num_users=2"):
        normalized_social_adjacency(torch.tensor([0]), torch.tensor([2]), 2)


def _fused(model: SocialLightGCN, src: torch.Tensor = SRC, dst: torch.Tensor = DST) -> Propagation:
    return model.propagation(*_graphs(src, dst))


@pytest.mark.parametrize("social_weight", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("fusion", ["fixed", "degree"])
def test_fused_operator_equals_the_unfused_layer(social_weight: float, fusion: str) -> None:
    adj, social = _graphs()
    model = _model(1, 8, social_weight, fusion)
    graph = model.propagation(adj, social)
    x = torch.randn(NUM_USERS + NUM_ITEMS, 8, generator=torch.Generator().manual_seed(3))
    # The unfused layer: two sparse products, then the per-user mix.
    beta = model.fusion_weights(adj, social).unsqueeze(1)
    unfused = adj @ x
    unfused[:NUM_USERS] = (1 - beta) * unfused[:NUM_USERS] + beta * (social @ x[:NUM_USERS])
    torch.testing.assert_close(graph.matrix @ x, unfused)
    torch.testing.assert_close(graph.adjoint.to_dense(), graph.matrix.to_dense().T)
    # One CSR matrix: the user-item entries and the friend entries, nothing more.
    assert graph.matrix.layout == torch.sparse_csr
    assert graph.matrix.values().numel() == adj.values().numel() + social.values().numel()


@pytest.mark.parametrize("num_layers", [0, 1, 3])
@pytest.mark.parametrize("social_weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("fusion", ["fixed", "degree"])
def test_propagation_equals_dense_reference(
    num_layers: int, social_weight: float, fusion: str
) -> None:
    adj, social = _graphs()
    model = _model(num_layers, 8, social_weight, fusion)
    graph = model.propagation(adj, social)
    got = model.get_embedding(graph)
    assert got.shape == (NUM_USERS + NUM_ITEMS, 8)
    torch.testing.assert_close(got, _dense_reference(model, adj, social))
    scores = model(graph, torch.tensor([0, 1]), torch.tensor([[0, 1], [2, 3]]))
    assert scores.shape == (2, 2)
    assert model.recommend(graph, torch.tensor([0, 2, 4]), k=3).shape == (3, 3)


@pytest.mark.parametrize("fusion", ["fixed", "degree"])
def test_gradients_equal_dense_reference(fusion: str) -> None:
    adj, social = _graphs()
    model = _model(3, fusion=fusion)
    user, item = torch.tensor([0, 2, 3]), torch.tensor([[1, 0], [3, 1], [2, 0]])
    model(model.propagation(adj, social), user, item).sum().backward()
    got = model.embedding.weight.grad
    assert got is not None
    reference = _model(3, fusion=fusion)
    emb = _dense_reference(reference, adj, social)
    (emb[user].unsqueeze(1) * emb[item + NUM_USERS]).sum().backward()
    torch.testing.assert_close(got, reference.embedding.weight.grad)
    assert bool(got[: NUM_USERS + NUM_ITEMS].abs().sum(1).gt(0).any())


def test_zero_social_weight_is_lightgcn() -> None:
    adj, _ = _graphs()
    model = _model(3, social_weight=0.0)
    plain = LightGCN(NUM_USERS, NUM_ITEMS, 4, 3)
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model.get_embedding(_fused(model)), plain.get_embedding(adj))


@pytest.mark.parametrize("fusion", ["fixed", "degree"])
def test_friendships_change_user_embeddings(fusion: str) -> None:
    model = _model(2, fusion=fusion)
    before = model.get_embedding(_fused(model))
    # Move user 3's tie from user 2 to user 1.
    after = model.get_embedding(_fused(model, torch.tensor([0, 1, 1]), torch.tensor([1, 0, 3])))
    changed = (before - after).abs().sum(1) > 1e-6
    assert changed[[1, 2, 3]].all()  # the users whose ties changed
    assert not changed[4]  # isolated everywhere
    assert changed[NUM_USERS:].any()  # and, through the users, item embeddings too


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"social_weight": 1.5}, "social_weight"),
        ({"num_layers": -1}, "num_layers"),
        ({"num_users": 0}, "num_users"),
        ({"fusion": "attention"}, "fusion"),
        ({"ssl_weight": -0.1}, "ssl_weight"),
        ({"ssl_eps": -1.0}, "ssl_eps"),
        ({"ssl_temperature": 0.0}, "ssl_temperature"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"num_users": 3, "num_items": 3, **kwargs}
    with pytest.raises(ValueError, match=field):
        SocialLightGCN(**args)  # type: ignore[arg-type]


def test_ssl_loss_without_noise_contrasts_the_clean_embeddings() -> None:
    adj, social = _graphs()
    model = SocialLightGCN(NUM_USERS, NUM_ITEMS, 8, 2, 0.5, ssl_weight=0.25, ssl_eps=0.0)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    user, item = torch.tensor([2, 0, 2, 3]), torch.tensor([3, 1, 2, 3])
    clean = _dense_reference(model, adj, social)
    users, items = torch.tensor([0, 2, 3]), torch.tensor([1, 2, 3]) + NUM_USERS
    expected = 0.25 * (
        info_nce(clean[users], clean[users], 0.2) + info_nce(clean[items], clean[items], 0.2)
    )
    torch.testing.assert_close(model.ssl_loss(_fused(model), user, item), expected)


def _noisy_views_reference(
    model: SocialLightGCN, adj: torch.Tensor, social: torch.Tensor, key: int
) -> torch.Tensor:
    """SimGCL as written: each view propagated from scratch with autograd (dense products),
    noise from the same bytes added to every layer's output. ``[2, N, d]``."""
    a, s = adj.to_dense(), social.to_dense()
    beta = model.fusion_weights(adj, social).unsqueeze(1)
    nodes, dim, num_layers = NUM_USERS + NUM_ITEMS, model.embedding_dim, model.num_layers
    noise = hashed_bytes(key, num_layers * nodes * 2 * dim).view(num_layers, nodes, 2, dim)
    views = []
    for view in range(2):
        x = model.embedding.weight
        total = x
        for layer in range(num_layers):
            h = a @ x
            user = (1 - beta) * h[:NUM_USERS] + beta * (s @ x[:NUM_USERS])
            h = torch.cat([user, h[NUM_USERS:]])
            step = F.normalize(noise[layer, :, view].float() + 0.5, dim=1) * model.ssl_eps
            x = h + torch.sign(h) * step
            total = total + x
        views.append(total / (num_layers + 1))
    return torch.stack(views)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_views_without_re_propagating_equal_simgcl_from_scratch(num_layers: int) -> None:
    adj, social = _graphs()
    model = SocialLightGCN(NUM_USERS, NUM_ITEMS, 8, num_layers, 0.5, ssl_weight=0.3, ssl_eps=0.2)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    user, item = torch.tensor([2, 0, 3]), torch.tensor([3, 1, 2])
    emb, loss = model.embedding_and_ssl_loss(
        model.propagation(adj, social), user, item, torch.Generator().manual_seed(5)
    )
    (emb[:, 0].sum() + loss).backward()
    got = model.embedding.weight.grad
    assert got is not None
    # The reference draws the same key from the same seed and propagates every view.
    key = int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(5)))
    reference = SocialLightGCN(NUM_USERS, NUM_ITEMS, 8, num_layers, 0.5, ssl_eps=0.2)
    reference.load_state_dict(model.state_dict())
    view1, view2 = _noisy_views_reference(reference, adj, social, key)
    clean = _dense_reference(reference, adj, social)
    torch.testing.assert_close(emb, clean)
    users, items = torch.tensor([0, 2, 3]), torch.tensor([1, 2, 3]) + NUM_USERS
    expected = 0.3 * (
        info_nce(view1[users], view2[users], 0.2) + info_nce(view1[items], view2[items], 0.2)
    )
    torch.testing.assert_close(loss, expected)
    (clean[:, 0].sum() + expected).backward()
    torch.testing.assert_close(got, reference.embedding.weight.grad)


def test_noise_has_norm_eps_and_the_sign_of_the_embedding() -> None:
    adj, social = _graphs()
    model = SocialLightGCN(NUM_USERS, NUM_ITEMS, 8, 1, 0.5, ssl_weight=0.1, ssl_eps=0.3)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    layers = _dense_layers(model, adj, social)
    with torch.no_grad():
        every = torch.arange(NUM_USERS + NUM_ITEMS)
        offsets = model._view_offsets(_fused(model).matrix, layers, 11, every)
    layer1 = layers[1].detach()
    connected = layer1.ne(0).all(1)  # user 4 is isolated: zero row, sign 0, no noise
    assert connected.sum() == NUM_USERS + NUM_ITEMS - 1
    for view in range(2):
        noise = 2 * offsets[:, view]  # final = (E0 + E1 + noise) / 2
        torch.testing.assert_close(noise[connected].norm(dim=1), torch.full((8,), 0.3))
        assert bool((noise[connected].sign() == layer1[connected].sign()).all())
        assert not bool(noise[~connected].any())
    assert not torch.equal(offsets[:, 0], offsets[:, 1])  # independent views


def test_hashed_bytes_are_uniform_and_keyed() -> None:
    bytes_ = hashed_bytes(7, 1 << 16)
    assert bytes_.dtype == torch.uint8 and bytes_.numel() == 1 << 16
    torch.testing.assert_close(bytes_, hashed_bytes(7, 1 << 16), rtol=0, atol=0)
    assert not torch.equal(bytes_, hashed_bytes(8, 1 << 16))
    counts = torch.bincount(bytes_.long(), minlength=256).float()
    # 256 cells of expected 256: a chi-square far below the 1e-6 tail (~370 for 255 dof).
    assert float(((counts - 256) ** 2 / 256).sum()) < 370
    assert torch.equal(hashed_bytes(7, 5), bytes_[:5])  # a prefix: counter-based


def test_ssl_loss_is_seeded_and_its_gradient_flows_through_the_graph() -> None:
    model = SocialLightGCN(NUM_USERS, NUM_ITEMS, 8, 2, 0.5, ssl_weight=0.25)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    graph = _fused(model)
    user, item = torch.tensor([2, 2]), torch.tensor([2, 3])

    def loss(seed: int) -> torch.Tensor:
        return model.ssl_loss(graph, user, item, torch.Generator().manual_seed(seed))

    torch.testing.assert_close(loss(1), loss(1))
    assert float(loss(1).detach()) != float(loss(2).detach())
    loss(1).backward()
    grad = model.embedding.weight.grad
    assert grad is not None
    # Propagation carries the gradient beyond the batch to user 3 (a friend of user 2 and a
    # buyer of item 3), not to the other component (users 0, 1, items 0, 1).
    assert bool(grad[3].abs().gt(0).any())
    assert not bool(grad[[0, 1, NUM_USERS, NUM_USERS + 1]].any())


def test_wrong_graph_shape_is_rejected() -> None:
    adj, _ = _graphs()
    with pytest.raises(ValueError, match="social_adj"):
        _model().propagation(adj, normalized_social_adjacency(SRC, DST, 7))


# Training on a planted world where friends share tastes ------------------------------------


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return social_snapshot()


@pytest.fixture(scope="module")
def result(snapshot: Snapshot) -> TrainResult:
    return train(snapshot, CONFIG)


def test_train_data_carries_the_friend_graph(snapshot: Snapshot) -> None:
    data = TrainData.from_snapshot(snapshot, seed=0)
    assert data.social_src.numel() == len(snapshot.social_src) > 0
    model, graphs = build_model(CONFIG, data)
    assert isinstance(model, SocialLightGCN) and isinstance(graphs[0], Propagation)
    model, graphs = build_model(replace(CONFIG, model="lightgcn"), data)
    assert isinstance(model, LightGCN) and len(graphs) == 1
    with pytest.raises(ValueError, match="model must be one of"):
        train(snapshot, replace(CONFIG, model="mhcn"))


def test_social_training_learns_and_is_seeded(snapshot: Snapshot, result: TrainResult) -> None:
    assert result.valid_metrics["recall@10"] > 0.3  # random ranking: ~10/60 * 1 item
    again = train(snapshot, CONFIG)
    torch.testing.assert_close(again.user_embeddings, result.user_embeddings)
    assert again.test_metrics == result.test_metrics
    other = train(snapshot, replace(CONFIG, seed=1))
    assert not torch.equal(other.user_embeddings, result.user_embeddings)


def test_no_social_weight_and_no_ssl_trains_like_lightgcn(snapshot: Snapshot) -> None:
    plain = train(snapshot, replace(CONFIG, model="lightgcn"))
    social = train(snapshot, replace(CONFIG, social_weight=0.0, ssl_weight=0.0))
    # Equal up to float rounding: LightGCN sums its layers in another order (Horner's rule).
    torch.testing.assert_close(social.user_embeddings, plain.user_embeddings)
    assert social.best_epoch == plain.best_epoch
    assert [r.loss for r in social.history] == pytest.approx([r.loss for r in plain.history])


def test_ssl_training_is_seeded_and_changes_the_model(snapshot: Snapshot) -> None:
    config = replace(CONFIG, ssl_weight=0.2, epochs=3)
    first = train(snapshot, config)
    torch.testing.assert_close(train(snapshot, config).user_embeddings, first.user_embeddings)
    without = train(snapshot, replace(config, ssl_weight=0.0))
    assert not torch.equal(without.user_embeddings, first.user_embeddings)
    # The contrastive term is part of the training loss.
    assert first.history[0].loss > without.history[0].loss


def test_for_model_applies_the_model_defaults_then_the_overrides() -> None:
    assert TrainConfig.for_model("lightgcn") == TrainConfig()
    social = TrainConfig.for_model("social", seed=3)
    assert (social.model, social.seed) == ("social", 3)
    assert social.lr == MODEL_DEFAULTS["social"]["lr"] != TrainConfig().lr
    assert social.ssl_weight == MODEL_DEFAULTS["social"]["ssl_weight"] > 0
    assert TrainConfig.for_model("social", ssl_weight=0.0).ssl_weight == 0.0
    # Old checkpoints without the contrastive fields load as trained: without it.
    assert TrainConfig.from_dict({"model": "social"}).ssl_weight == 0.0


def test_report_json_and_plots(tmp_path: Path, result: TrainResult) -> None:
    report = build_report(result.user_embeddings, result.item_embeddings, result.data, "test")
    assert report["metrics"] == pytest.approx(result.test_metrics)
    assert sum(b["users"] for b in report["by_activity"]) == report["users"]
    assert report["cold_start"]["users"] == report["users"]  # everyone has <= 20 train items
    assert 0 < report["coverage"]["coverage@10"] <= 1
    history = to_checkpoint(result).metrics["history"]
    files = write_report(report, tmp_path / "report", history)
    assert {f.name for f in files} == {"report.json", "learning_curves.png", "activity.png"}
    assert all(f.stat().st_size > 0 for f in files)
    assert json.loads((tmp_path / "report" / "report.json").read_text())["history"] == history
    with pytest.raises(ValueError, match="buckets"):
        build_report(result.user_embeddings, result.item_embeddings, result.data, buckets=[5, 2])


def test_ssl_weight_ramps_up_over_the_first_epochs() -> None:
    config = replace(CONFIG, ssl_weight=0.3, ssl_ramp_epochs=4)
    weights = [config.ssl_weight_at(epoch) for epoch in (1, 2, 4, 9)]
    assert weights == pytest.approx([0.075, 0.15, 0.3, 0.3])
    assert replace(CONFIG, ssl_weight=0.3).ssl_weight_at(1) == 0.3
    with pytest.raises(ValueError, match="ssl_ramp_epochs"):
        replace(CONFIG, ssl_ramp_epochs=-1).validate()


def test_training_applies_the_ramp_and_keeps_the_configured_weight() -> None:
    snapshot = social_snapshot()
    base = replace(CONFIG, ssl_weight=0.2, epochs=3, warmup_epochs=0)
    plain = train(snapshot, base)
    one = train(snapshot, replace(base, ssl_ramp_epochs=1))  # full weight from epoch 1
    ramped = train(snapshot, replace(base, ssl_ramp_epochs=3))
    assert [r.loss for r in one.history] == [r.loss for r in plain.history]
    assert ramped.history[0].loss != plain.history[0].loss  # a third of the weight in epoch 1
    assert isinstance(ramped.model, SocialLightGCN)
    assert ramped.model.ssl_weight == 0.2
