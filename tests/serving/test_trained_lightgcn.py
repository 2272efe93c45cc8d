"""A trained LightGCN checkpoint round-trips and serves: the stored weights rebuild the final
embeddings, and the recommender serves them without items the user has seen."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gnn.checkpoint import (
    checkpoint_data,
    evaluate_checkpoint,
    load_checkpoint,
    save_checkpoint,
    to_checkpoint,
)
from gnn.config import TrainConfig
from gnn.train import TrainResult, build_model, train
from graph.snapshot import Snapshot
from serving.live import LiveGraph
from serving.recommender import RecommenderService
from serving.social import SocialRecommender
from tests.gnn.worlds import PLANTED_CONFIG as CONFIG
from tests.gnn.worlds import planted_snapshot

snapshot = pytest.fixture(scope="module", name="snapshot")(planted_snapshot)


@pytest.fixture(scope="module")
def result(snapshot: Snapshot) -> TrainResult:
    return train(snapshot, CONFIG)


def test_checkpoint_round_trip_and_serving(
    tmp_path: Path, snapshot: Snapshot, result: TrainResult
) -> None:
    path = save_checkpoint(to_checkpoint(result), tmp_path / "model.pt")
    ckpt = load_checkpoint(path)
    assert ckpt.model_name == "lightgcn"
    assert ckpt.snapshot_fingerprint == snapshot.fingerprint
    assert ckpt.user_ids == snapshot.user_ids and ckpt.item_ids == snapshot.item_ids
    assert ckpt.train_config["seed"] == CONFIG.seed
    assert ckpt.metrics["test"] == pytest.approx(result.test_metrics)
    torch.testing.assert_close(ckpt.user_embeddings, result.user_embeddings)
    # Re-evaluation rebuilds the same split from the stored config.
    assert evaluate_checkpoint(ckpt, snapshot) == pytest.approx(result.test_metrics)
    # The stored state_dict, loaded into a fresh model, reproduces the final embeddings.
    config = TrainConfig.from_dict(ckpt.train_config)
    fresh, graphs = build_model(config, checkpoint_data(ckpt, snapshot))
    fresh.load_state_dict(ckpt.state_dict)
    fresh.eval()
    with torch.no_grad():
        again = fresh.get_embedding(*graphs)
    assert torch.equal(again[: fresh.num_users], ckpt.user_embeddings)
    assert torch.equal(again[fresh.num_users :], ckpt.item_embeddings)
    service = RecommenderService.from_artifacts(snapshot, ckpt)
    recs = SocialRecommender(LiveGraph(snapshot), service).recommend("u000", 5).items
    assert len(recs) == 5
    seen = snapshot.inter_item[snapshot.inter_user == snapshot.user_index["u000"]]
    assert not {r.item_id for r in recs} & {snapshot.item_ids[i] for i in seen}
