"""The baseline guard (CLI exit, checkpoint mark, report and /health warnings), the model
card, the long-tail slice and the plain progress lines, on the planted graph of tests/gnn/worlds."""

from __future__ import annotations

import json

import pytest
import torch

from gnn.baselines import popularity_embeddings, popularity_metrics
from gnn.checkpoint import to_checkpoint
from gnn.evaluate import per_user_metrics
from gnn.report import long_tail_items, slices
from gnn.train import TrainResult, train
from graph.snapshot import Snapshot
from tests.gnn.worlds import FROZEN_CONFIG as FROZEN
from tests.gnn.worlds import PLANTED_CONFIG as CONFIG
from tests.gnn.worlds import planted_snapshot, skewed_snapshot


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return planted_snapshot()


@pytest.fixture(scope="module")
def skewed() -> Snapshot:
    return skewed_snapshot()


@pytest.fixture(scope="module")
def healthy(snapshot: Snapshot) -> TrainResult:
    return train(snapshot, CONFIG)


@pytest.fixture(scope="module")
def frozen(skewed: Snapshot) -> TrainResult:
    return train(skewed, FROZEN)


def test_guard_passes_a_healthy_model(healthy: TrainResult) -> None:
    assert healthy.beats_popular
    checkpoint = to_checkpoint(healthy)
    assert checkpoint.metrics["popular"] == {
        "valid": healthy.popular_valid,
        "test": healthy.popular_test,
    }
    assert checkpoint.card["guard"]["passed"] is True
    assert checkpoint.card["guard"]["model"] > checkpoint.card["guard"]["popular"]
    assert checkpoint.quality_warnings == []


def test_guard_fires_on_a_model_that_cannot_learn(frozen: TrainResult) -> None:
    assert not frozen.beats_popular
    # Below popularity, patience never stops it: it runs to the maximum epochs.
    assert frozen.epochs_run == FROZEN.epochs and not frozen.stopped_early
    checkpoint = to_checkpoint(frozen)
    assert checkpoint.card["guard"]["passed"] is False
    [warning] = checkpoint.quality_warnings
    assert "worse than popularity" in warning


def test_model_card(healthy: TrainResult, snapshot: Snapshot) -> None:
    card = to_checkpoint(healthy, {"lightgcn": {"valid": {"ndcg@10": 0.5}}}).card
    data = healthy.data
    assert card["dataset"]["fingerprint"] == snapshot.fingerprint
    assert card["dataset"]["train"] == data.train_user.numel()
    assert card["defaults"]["patience"] == 50
    # CONFIG departs from the defaults in these fields (and only these).
    assert set(card["overrides"]) == {
        "embedding_dim",
        "num_layers",
        "lr",
        "batch_size",
        "epochs",
        "patience",
        "seed",
        "num_threads",
    }
    assert card["overrides"]["lr"] == CONFIG.lr
    curve = card["valid_curve"]
    assert [epoch for epoch, _ in curve] == list(range(1, healthy.epochs_run + 1))
    assert max(value for _, value in curve) == healthy.valid_metrics["ndcg@10"]
    popular = card["references"]["popular"]
    assert popular["valid"] == popularity_metrics(data, "valid")
    assert card["references"]["lightgcn"] == {"valid": {"ndcg@10": 0.5}}
    for who in ("model", "popular"):
        assert set(card["slices"][who]) == {"cold_start", "long_tail"}
    # Popularity recommends head items only, so it scores nothing on the long tail.
    assert card["slices"]["popular"]["long_tail"]["metrics"]["recall@10"] == 0.0
    assert card["slices"]["model"]["long_tail"]["metrics"]["recall@10"] > 0.0
    json.dumps(card)  # stored in the checkpoint and the report


def test_long_tail_items_and_slice(healthy: TrainResult) -> None:
    data = healthy.data
    tail = long_tail_items(data, head_share=0.25)
    counts = torch.bincount(data.train_item, minlength=data.num_items)
    assert int((~tail).sum()) == 20  # ceil(0.25 * 80)
    assert counts[~tail].min() >= counts[tail].max()
    # Every item relevant: the slice is the whole evaluation.
    everything = torch.ones(data.num_items, dtype=torch.bool)
    emb = (healthy.user_embeddings, healthy.item_embeddings)
    users, values = per_user_metrics(*emb, data, "test")
    same_users, same = per_user_metrics(*emb, data, "test", only_items=everything)
    assert torch.equal(users, same_users)
    for name, value in values.items():
        torch.testing.assert_close(same[name], value)
    # Hand check: a user's long-tail recall counts only the long-tail test items.
    cut = slices(*emb, data, "test", (10,), head_share=0.25)["long_tail"]
    tail_users, tail_values = per_user_metrics(*emb, data, "test", (10,), only_items=tail)
    assert cut["users"] == tail_users.numel() and cut["items"] == 60
    user = int(tail_users[0])
    scores = healthy.user_embeddings[user] @ healthy.item_embeddings.T
    for split in ("train", "valid"):  # test ranking masks both
        split_user, split_item = data.pairs(split)
        scores[split_item[split_user == user]] = -torch.inf
    test_user, test_item = data.pairs("test")
    relevant = test_item[(test_user == user) & tail[test_item]]
    hits = torch.isin(scores.topk(10).indices, relevant).sum()
    assert tail_values["recall@10"][0].item() == pytest.approx(float(hits) / relevant.numel())


def test_popularity_embeddings_rank_by_training_count(healthy: TrainResult) -> None:
    user_emb, item_emb = popularity_embeddings(healthy.data)
    counts = torch.bincount(healthy.data.train_item, minlength=healthy.data.num_items)
    assert torch.equal((user_emb[0] * item_emb.T).squeeze(0), counts.to(torch.float32))
