"""The popularity guard through the CLI: ``train`` exits 1 below popularity unless allowed, and
``evaluate`` reports the warning, the model card and its references."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from gnn.checkpoint import evaluate_checkpoint, load_checkpoint
from graph.snapshot import write_snapshot
from socialrec.cli import app
from tests.gnn.worlds import skewed_snapshot


def text(result: Result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines


def test_cli_guard_exit_code_mark_and_report(tmp_path: Path) -> None:
    skewed = skewed_snapshot()
    snap_dir = write_snapshot(skewed, tmp_path / "snapshot")
    out = tmp_path / "frozen.pt"
    runner = CliRunner()
    args = ["train", "--snapshot", str(snap_dir), "--out", str(out), "--epochs", "3"]
    args += ["--dim", "8", "--lr", "1e-9", "--warmup", "0", "--threads", "1", "--seed", "0"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1, refused.output
    assert "worse than recommending the most popular items" in text(refused)
    assert "--allow-worse-than-popular" in text(refused)
    assert load_checkpoint(out).quality_warnings  # written, and marked
    # Output is not a terminal here: plain progress lines, not a bar.
    assert "epoch 1/3 loss" in text(refused) and "eta <=" in text(refused)

    accepted = runner.invoke(app, [*args, "--allow-worse-than-popular"])
    assert accepted.exit_code == 0, accepted.output
    assert "warning: the model is worse" in text(accepted)

    other = tmp_path / "other.pt"  # a reference on the same split, and one on another
    for seed, path in (("0", other), ("1", tmp_path / "seed1.pt")):
        reference = [*args[:3], "--out", str(path), "--seed", seed, "--epochs", "1"]
        assert runner.invoke(app, [*reference, "--allow-worse-than-popular"]).exit_code == 0

    report = tmp_path / "report"
    where = ["--checkpoint", str(out), "--snapshot", str(snap_dir), "--report", str(report)]
    evaluated = runner.invoke(app, ["evaluate", *where, "--reference", str(other)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "warning: worse than popularity" in text(evaluated)
    written = json.loads((report / "report.json").read_text())
    assert written["warnings"] and written["card"]["guard"]["passed"] is False
    assert written["popular"]["ndcg@10"] > written["metrics"]["ndcg@10"]
    assert "long_tail" in written
    assert written["references"]["lightgcn"] == evaluate_checkpoint(
        load_checkpoint(other), skewed, "test", (10, 20)
    )
    mismatch = runner.invoke(app, ["evaluate", *where, "--reference", str(tmp_path / "seed1.pt")])
    assert mismatch.exit_code == 1 and "another split" in text(mismatch)
