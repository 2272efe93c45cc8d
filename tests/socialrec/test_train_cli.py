"""``socialrec train`` and ``socialrec evaluate`` on a small planted world: the checkpoint,
the metrics printed, clear errors, and ``--steps-per-epoch`` stored as given."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from gnn.checkpoint import load_checkpoint
from graph.snapshot import Snapshot, write_snapshot
from socialrec.cli import app
from tests.gnn.worlds import planted_snapshot

snapshot = pytest.fixture(scope="module", name="snapshot")(planted_snapshot)


def test_cli_train_and_evaluate(tmp_path: Path, snapshot: Snapshot) -> None:
    snap_dir = write_snapshot(snapshot, tmp_path / "snapshot")
    out = tmp_path / "model.pt"
    runner = CliRunner()

    def text(result: Result) -> str:
        return " ".join(result.output.split())  # rich wraps long lines

    trained = runner.invoke(
        app,
        [
            "train",
            "--snapshot",
            str(snap_dir),
            "--out",
            str(out),
            "--epochs",
            "3",
            "--dim",
            "8",
            "--lr",
            "0.05",
            "--threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert out.is_file() and "recall@10" in text(trained)
    evaluated = runner.invoke(
        app, ["evaluate", "--checkpoint", str(out), "--snapshot", str(snap_dir)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "ndcg@10" in text(evaluated)

    missing = runner.invoke(app, ["train", "--snapshot", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 1 and "socialrec export" in text(missing)
    no_ckpt = runner.invoke(
        app, ["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--snapshot", str(snap_dir)]
    )
    assert no_ckpt.exit_code == 1 and "does not exist" in text(no_ckpt)
    other = write_snapshot(planted_snapshot(seed=1), tmp_path / "other")
    mismatch = runner.invoke(app, ["evaluate", "--checkpoint", str(out), "--snapshot", str(other)])
    assert mismatch.exit_code == 1 and "trained on snapshot" in text(mismatch)


def test_cli_steps_per_epoch(tmp_path: Path, snapshot: Snapshot) -> None:
    snap_dir = write_snapshot(snapshot, tmp_path / "snapshot")
    out = tmp_path / "model.pt"
    base = ["train", "--snapshot", str(snap_dir), "--out", str(out), "--epochs", "1"]
    runner = CliRunner()
    for option, stored in (("all", None), ("2", 2), ("AUTO", "auto"), (None, "auto")):
        extra = [] if option is None else ["--steps-per-epoch", option]
        trained = runner.invoke(
            app, [*base, "--threads", "1", "--allow-worse-than-popular", *extra]
        )
        assert trained.exit_code == 0, trained.output
        assert load_checkpoint(out).train_config["steps_per_epoch"] == stored
    bad = runner.invoke(app, [*base, "--steps-per-epoch", "0"])
    assert bad.exit_code == 1
    assert "--steps-per-epoch must be a positive integer, auto or all, got '0'" in " ".join(
        bad.output.split()
    )
