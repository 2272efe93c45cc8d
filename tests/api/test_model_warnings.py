"""``/health``'s ``model_warnings`` from the real app: a checkpoint below popularity is flagged,
a healthy one is not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from gnn.checkpoint import save_checkpoint, to_checkpoint
from gnn.train import train
from graph.snapshot import Snapshot, write_snapshot
from serving.settings import Settings
from tests.gnn.worlds import FROZEN_CONFIG, PLANTED_CONFIG, planted_snapshot, skewed_snapshot


def served_warnings(work_dir: Path, snapshot_dir: Path, checkpoint: Path) -> list[str]:
    """``model_warnings`` of ``/health`` from the real app serving ``checkpoint``."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg, unused-ignore]
        work_dir=work_dir,
        snapshot_dir=snapshot_dir,
        checkpoint_path=checkpoint,
    )
    with TestClient(create_app(settings)) as client:
        warnings: list[str] = client.get("/health").json()["model_warnings"]
    return warnings


def serve_trained(tmp_path: Path, snapshot: Snapshot, frozen: bool) -> list[str]:
    """Train on ``snapshot`` (a frozen model or a healthy one) and serve it."""
    result = train(snapshot, FROZEN_CONFIG if frozen else PLANTED_CONFIG)
    snap_dir = write_snapshot(snapshot, tmp_path / "snapshot")
    path = save_checkpoint(to_checkpoint(result), tmp_path / "model.pt")
    return served_warnings(tmp_path, snap_dir, path)


def test_health_warns_of_a_model_below_popularity(tmp_path: Path) -> None:
    [warning] = serve_trained(tmp_path, skewed_snapshot(), frozen=True)
    assert "worse than popularity" in warning


def test_health_has_no_warning_for_a_healthy_model(tmp_path: Path) -> None:
    assert serve_trained(tmp_path, planted_snapshot(), frozen=False) == []
