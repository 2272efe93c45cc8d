"""The calibrated reach model behind the API: the calibration endpoint, the ``calibrated`` flag
and model block of every reach answer, the fallback without a backtest, and qualified reach as
a purchase probability fitted on held-out interactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from api.app import create_app
from gnn.checkpoint import Checkpoint, save_checkpoint, to_checkpoint
from gnn.config import TrainConfig
from gnn.train import train
from graph.reach.backtest import run_backtest, save_backtest
from graph.reach.calibrate import CalibratedReach
from graph.snapshot import Snapshot, write_snapshot
from serving.affinity import PURCHASE_PROBABILITY
from serving.reach import ReachService
from serving.reach_model import load_reach_model
from serving.settings import Settings
from tests.graph.reach.worlds import ic_world


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return ic_world(num_users=200, num_items=500, seed=3)


@pytest.fixture(scope="module")
def checkpoint(snapshot: Snapshot) -> Checkpoint:
    config = TrainConfig(embedding_dim=8, num_layers=1, epochs=3, patience=3, seed=0, num_threads=1)
    return to_checkpoint(train(snapshot, config))


@pytest.fixture(scope="module")
def reach_dir(snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    report, model = run_backtest(snapshot, simulations=50, jobs=1)
    directory = tmp_path_factory.mktemp("reach")
    save_backtest(report, model, directory)
    return directory


def _client_settings(tmp: Path, snapshot: Snapshot, ckpt: Checkpoint, reach: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg, unused-ignore]
        work_dir=tmp,
        snapshot_dir=write_snapshot(snapshot, tmp / "snapshot"),
        checkpoint_path=save_checkpoint(ckpt, tmp / "model.pt"),
        reach_dir=reach,
        max_simulations=5000,
        max_plan_k=4,
        max_candidates=40,
    )


@pytest.fixture
def client(
    tmp_path: Path, snapshot: Snapshot, checkpoint: Checkpoint, reach_dir: Path
) -> Iterator[TestClient]:
    settings = _client_settings(tmp_path, snapshot, checkpoint, reach_dir)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def uncalibrated(
    tmp_path: Path, snapshot: Snapshot, checkpoint: Checkpoint
) -> Iterator[TestClient]:
    settings = _client_settings(tmp_path, snapshot, checkpoint, tmp_path / "no-backtest")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _kol(snapshot: Snapshot) -> str:
    """The most-followed user."""
    followed = np.bincount(snapshot.social_dst, minlength=len(snapshot.user_ids))
    return snapshot.user_ids[int(np.argmax(followed))]


def test_calibration_endpoint_serves_the_last_backtest(client: TestClient) -> None:
    body = _ok(client.get("/api/v1/reach/calibration"))
    model = body["reach_model"]
    assert model["name"] == "calibrated" and model["calibrated"] is True
    assert model["reason"] is None and model["fit_period"][0] <= model["fit_period"][1]
    assert model["backtest"]["spearman"] is not None
    scored = {s["model"] for s in body["backtest"]["scores"]}
    assert {"calibrated", "weighted_cascade", "constant_median", "seed_followers"} <= scored
    assert body["affinity"] == PURCHASE_PROBABILITY


def test_reach_defaults_to_the_calibrated_model(
    client: TestClient, snapshot: Snapshot, reach_dir: Path
) -> None:
    seed = _kol(snapshot)
    body = _ok(client.post("/api/v1/reach", json={"seeds": [seed], "seed": 5}))
    assert body["probability"]["kind"] == "calibrated"
    assert body["reach_model"]["calibrated"] is True and body["reach_model"]["warnings"] == []
    predicted = body["predicted"]
    assert predicted["low90"] <= predicted["low50"] <= predicted["median"] <= predicted["high50"]
    assert predicted["high50"] <= predicted["high90"] and predicted["low90"] >= 1.0
    # The Monte-Carlo estimate stays beside the calibrated number, and the library agrees.
    model = CalibratedReach.load(reach_dir / "reach_model.json")
    lib = model.predict(body["reach"]["mean"], [seed], raw_std_error=body["reach"]["std_error"])
    assert predicted["expected"] == pytest.approx(lib.expected)
    assert body["reach"]["std_error"] >= 0.0


def test_other_probabilities_say_they_are_not_calibrated(client: TestClient) -> None:
    seed = _ok(client.get("/api/v1/influencers?k=1"))["influencers"][0]["user_id"]
    body = _ok(
        client.post(
            "/api/v1/reach",
            json={"seeds": [seed], "probability": {"kind": "uniform", "p": 0.5}},
        )
    )
    assert body["reach_model"]["name"] == "uniform" and body["reach_model"]["calibrated"] is False
    assert "uniform" in body["reach_model"]["reason"] and body["predicted"] is None
    # The backtest tried uniform at p = 0.05 only: the response says p = 0.5 was not tested.
    assert any("p=0.5 was not backtested" in w for w in body["reach_model"]["warnings"])
    lt = _ok(client.post("/api/v1/reach", json={"seeds": [seed], "model": "lt"}))
    assert lt["predicted"] is None and lt["reach_model"]["calibrated"] is False
    assert any("Linear Threshold" in w for w in lt["reach_model"]["warnings"])


def test_influencers_and_plans_carry_the_model_block(client: TestClient) -> None:
    ranked = _ok(client.get("/api/v1/influencers?k=3&simulations=50"))
    assert ranked["probability"]["kind"] == "calibrated" and ranked["reach_model"]["calibrated"]
    assert all(row["predicted"]["expected"] >= 1.0 for row in ranked["influencers"])
    plan = _ok(client.post("/api/v1/campaigns/plan", json={"k": 2, "simulations": 50}))
    assert plan["reach_model"]["calibrated"] is True
    assert plan["predicted"]["expected"] >= 2.0 and plan["baseline"]["predicted"] is not None
    # Fitted on single-seed cascades: two seeds are an extrapolation, and the plan says so.
    assert any("2 seeds" in w for w in plan["reach_model"]["warnings"])


def test_without_a_backtest_reach_falls_back_with_the_reason(uncalibrated: TestClient) -> None:
    body = _ok(uncalibrated.get("/api/v1/reach/calibration"))
    assert body["reach_model"]["calibrated"] is False and body["backtest"] is None
    assert "socialrec reach backtest" in body["reach_model"]["reason"]
    seed = _ok(uncalibrated.get("/api/v1/influencers?k=1"))["influencers"][0]["user_id"]
    reach = _ok(uncalibrated.post("/api/v1/reach", json={"seeds": [seed]}))
    assert reach["probability"]["kind"] == "weighted_cascade" and reach["predicted"] is None
    assert reach["reach_model"]["calibrated"] is False
    asked = uncalibrated.post(
        "/api/v1/reach", json={"seeds": [seed], "probability": {"kind": "calibrated"}}
    )
    assert asked.status_code == 422 and "socialrec reach backtest" in asked.text


def test_qualified_reach_uses_purchase_probabilities(
    snapshot: Snapshot, checkpoint: Checkpoint, reach_dir: Path
) -> None:
    service = ReachService(snapshot, checkpoint, reach_model=load_reach_model(reach_dir), jobs=1)
    assert service.affinity_method == PURCHASE_PROBABILITY and service.purchase is not None
    item = checkpoint.item_ids[0]
    affinity = service.affinity(item)
    with torch.inference_mode():
        scores = checkpoint.user_embeddings @ checkpoint.item_embeddings[0]
    expected = service.purchase.probability(scores)
    position = {u: i for i, u in enumerate(checkpoint.user_ids)}
    graph_ids = service.graph.ids or []
    aligned = np.array([expected[position[u]] for u in graph_ids])
    assert np.allclose(affinity, aligned) and affinity.min() >= 0.0 and affinity.max() <= 1.0
    # A probability, not a rank: the mean is near the base rate, far below a rank's 0.5.
    assert affinity.mean() < 0.2
