"""A trained social checkpoint round-trips (model config, history, test metrics, the stored
weights rebuild the final embeddings) and serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gnn.checkpoint import evaluate_checkpoint, load_checkpoint, save_checkpoint, to_checkpoint
from gnn.config import TrainConfig
from gnn.train import TrainResult, build_model, train
from graph.snapshot import Snapshot
from serving.live import LiveGraph
from serving.recommender import RecommenderService
from serving.social import SocialRecommender
from tests.gnn.worlds import SOCIAL_CONFIG as CONFIG
from tests.gnn.worlds import social_snapshot

snapshot = pytest.fixture(scope="module", name="snapshot")(social_snapshot)


@pytest.fixture(scope="module")
def result(snapshot: Snapshot) -> TrainResult:
    return train(snapshot, CONFIG)


def test_social_checkpoint_round_trip(
    tmp_path: Path, snapshot: Snapshot, result: TrainResult
) -> None:
    ckpt = load_checkpoint(save_checkpoint(to_checkpoint(result), tmp_path / "social.pt"))
    assert ckpt.model_name == "social"
    assert ckpt.model_config["social_weight"] == CONFIG.social_weight
    assert ckpt.model_config["ssl_weight"] == CONFIG.ssl_weight
    assert [r["epoch"] for r in ckpt.metrics["history"]] == list(range(1, CONFIG.epochs + 1))
    assert evaluate_checkpoint(ckpt, snapshot) == pytest.approx(result.test_metrics)
    # The stored weights and config rebuild the stored final embeddings.
    model, graphs = build_model(TrainConfig.from_dict(ckpt.train_config), result.data)
    model.load_state_dict(ckpt.state_dict)
    with torch.no_grad():
        emb = model.get_embedding(*graphs)
    torch.testing.assert_close(emb[: model.num_users], ckpt.user_embeddings)
    service = RecommenderService.from_artifacts(snapshot, ckpt)
    assert len(SocialRecommender(LiveGraph(snapshot), service).recommend("u000", 5).items) == 5
