"""``socialrec train --nproc 2`` writes a checkpoint that trains like one process and serves;
``--device cuda`` without a GPU is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gnn.checkpoint import load_checkpoint
from gnn.config import TrainConfig
from gnn.train import train
from graph.snapshot import Snapshot, write_snapshot
from serving.live import LiveGraph
from serving.recommender import RecommenderService
from serving.social import SocialRecommender
from socialrec.cli import app
from tests.gnn.worlds import social_snapshot

pytestmark = pytest.mark.timeout(300)


snapshot = pytest.fixture(scope="module", name="snapshot")(social_snapshot)


@pytest.fixture(scope="module")
def snapshot_dir(snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(snapshot, tmp_path_factory.mktemp("ddp") / "snapshot")


def test_cli_nproc_2_writes_a_loadable_checkpoint(
    snapshot: Snapshot, snapshot_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "model.pt"
    args = ["--epochs", "3", "--dim", "16", "--layers", "2", "--batch-size", "29"]
    args += ["--lr", "0.05", "--seed", "0", "--threads", "1"]
    out = CliRunner().invoke(
        app,
        ["train", "--nproc", "2", "--snapshot", str(snapshot_dir), "--out", str(target), *args],
    )
    printed = capfd.readouterr().out  # the spawned processes write to the real stdout
    assert out.exit_code == 0, out.output + printed
    assert "2 processes, backend gloo" in printed
    assert printed.count("checkpoint:") == 1  # rank 0 alone reports
    ckpt = load_checkpoint(target)
    assert ckpt.model_name == "lightgcn" and ckpt.metrics["epochs_run"] == 3
    config = TrainConfig.from_dict(ckpt.train_config)
    assert (config.batch_size, config.num_threads, config.seed) == (29, 1, 0)
    single = train(snapshot, config)
    losses = [record["loss"] for record in ckpt.metrics["history"]]
    assert losses == pytest.approx([record.loss for record in single.history], rel=1e-5)
    assert ckpt.metrics["test"] == pytest.approx(single.test_metrics, abs=1e-4)
    service = RecommenderService.from_artifacts(snapshot, ckpt)
    assert len(SocialRecommender(LiveGraph(snapshot), service).recommend("u000", 5).items) == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cli_rejects_cuda_without_a_gpu(snapshot_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    out = CliRunner().invoke(
        app, ["train", "--device", "cuda", "--snapshot", str(snapshot_dir), "--out", str(target)]
    )
    assert out.exit_code == 1
    assert "torch sees no GPU" in out.output
    assert not target.exists()
