"""``socialrec tune`` writes the best config that ``socialrec train --config`` uses; config
file errors name the key and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gnn.checkpoint import load_checkpoint
from graph.snapshot import Snapshot, write_snapshot
from socialrec.cli import app
from tests.gnn.worlds import tune_snapshot

snapshot = pytest.fixture(scope="module", name="snapshot")(tune_snapshot)


def test_tune_cli_writes_best_config_that_train_uses(snapshot: Snapshot, tmp_path: Path) -> None:
    snap_dir, out = tmp_path / "snapshot", tmp_path / "tune"
    write_snapshot(snapshot, snap_dir)
    runner = CliRunner()
    tuned = runner.invoke(
        app,
        ["tune", "--model", "lightgcn", "--snapshot", str(snap_dir), "--trials", "3",
         "--epochs", "3", "--threads", "1", "--seed", "0", "--out", str(out)],
    )  # fmt: skip
    assert tuned.exit_code == 0, tuned.output
    assert "trial   2" in tuned.output and "best.json" in tuned.output
    best = json.loads((out / "best.json").read_text())
    table = json.loads((out / "trials.json").read_text())
    assert len(table["trials"]) == 3 and table["best_config"] == best
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = tmp_path / "model.pt"
    trained = runner.invoke(
        app,
        ["train", "--config", str(out / "best.json"), "--snapshot", str(snap_dir),
         "--out", str(model), "--epochs", "2", "--allow-worse-than-popular"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    stored = load_checkpoint(model).train_config
    assert stored == {**best, "epochs": 2}  # the file as is, the explicit option on top


def test_train_config_errors_name_the_key_and_the_file(snapshot: Snapshot, tmp_path: Path) -> None:
    write_snapshot(snapshot, tmp_path / "snapshot")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "social", "learnin_rate": 0.1}))
    runner = CliRunner()
    result = runner.invoke(
        app, ["train", "--config", str(bad), "--snapshot", str(tmp_path / "snapshot")]
    )
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"--config {bad}" in text and "unknown key 'learnin_rate'" in text
    bad.write_text("[1, 2]")
    result = runner.invoke(
        app, ["train", "--config", str(bad), "--snapshot", str(tmp_path / "snapshot")]
    )
    assert result.exit_code == 1 and "expected a JSON object" in " ".join(result.output.split())
