"""``socialrec train --model social`` with the contrastive options, and ``socialrec evaluate
--report`` on its checkpoint; an unknown model is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gnn.checkpoint import load_checkpoint
from gnn.config import MODEL_DEFAULTS
from graph.snapshot import Snapshot, write_snapshot
from socialrec.cli import app
from tests.gnn.worlds import social_snapshot

snapshot = pytest.fixture(scope="module", name="snapshot")(social_snapshot)


def test_cli_train_social_and_evaluate_report(tmp_path: Path, snapshot: Snapshot) -> None:
    snap_dir = write_snapshot(snapshot, tmp_path / "snapshot")
    out = tmp_path / "model.pt"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            *("train", "--model", "social", "--snapshot", str(snap_dir), "--out", str(out)),
            *("--epochs", "2", "--dim", "8", "--social-weight", "0.3", "--threads", "1"),
            *("--ssl-weight", "0.1", "--ssl-eps", "0.2", "--ssl-temperature", "0.5"),
            *("--ssl-ramp-epochs", "3", "--ssl-rows", "16"),
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "still improving when --epochs 2 ended training" in " ".join(trained.output.split())
    ckpt = load_checkpoint(out)
    assert ckpt.model_name == "social"
    assert ckpt.model_config["ssl_weight"] == 0.1 and ckpt.model_config["ssl_eps"] == 0.2
    assert ckpt.model_config["ssl_temperature"] == 0.5
    assert ckpt.train_config["ssl_ramp_epochs"] == 3 and ckpt.train_config["ssl_rows"] == 16
    assert ckpt.train_config["lr"] == MODEL_DEFAULTS["social"]["lr"]  # the social default
    report_dir = tmp_path / "report"
    evaluated = runner.invoke(
        app,
        [
            *("evaluate", "--checkpoint", str(out), "--snapshot", str(snap_dir)),
            *("--report", str(report_dir)),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    text = " ".join(evaluated.output.split())
    assert "ndcg@10" in text and "coverage@10" in text and "cold start" in text
    assert (report_dir / "learning_curves.png").is_file()
    assert json.loads((report_dir / "report.json").read_text())["model"]["name"] == "social"
    bad = runner.invoke(app, ["train", "--model", "mhcn", "--snapshot", str(snap_dir)])
    assert bad.exit_code == 1 and "model must be one of" in " ".join(bad.output.split())
