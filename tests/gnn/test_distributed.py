"""Training in two processes (torch.distributed, gloo on CPU) against one: the same optimiser
steps, the same loss history and metrics (``socialrec train --nproc 2``:
tests/socialrec/test_train_nproc_cli.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.distributed import DataParallel, spawn, train_distributed
from gnn.train import (
    BatchObjective,
    NegativeSampler,
    Replicas,
    TrainResult,
    build_model,
    train,
    train_step,
)
from graph.snapshot import Snapshot, read_snapshot, write_snapshot
from tests.gnn.worlds import social_snapshot

pytestmark = pytest.mark.timeout(300)

# 320 training pairs: batches of 29 (odd, so the two slices differ) and a last batch of one
# triple, which leaves rank 0 an empty slice.
LIGHTGCN = TrainConfig(
    embedding_dim=16,
    num_layers=2,
    lr=0.05,
    batch_size=29,
    epochs=4,
    patience=4,
    seed=0,
    num_threads=1,
)
CONFIGS = {
    "lightgcn": LIGHTGCN,
    "social": replace(LIGHTGCN, model="social", lr=0.01, ssl_weight=0.05),
}
# Batches for the step check: uneven slices, then one triple (an empty slice on rank 0).
STEP_BATCHES = (7, 1, 10)


def _sgd_change(config: TrainConfig, data: TrainData, replicas: Replicas) -> torch.Tensor:
    """Weight change after plain SGD steps (lr 1) on :data:`STEP_BATCHES` triples: unlike
    Adam, SGD's step scales with the gradient, so a wrongly scaled average shows."""
    generator = torch.Generator().manual_seed(0)
    model, graphs = build_model(config, data)
    model.reset_parameters(generator=generator)
    before = model.embedding.weight.detach().clone()
    objective = replicas.wrap(BatchObjective(model, graphs, config.reg_weight, generator))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    users, pos = data.train_user, data.train_item
    neg = NegativeSampler(users, pos, data.num_items).sample(users, generator)
    start = 0
    for size in STEP_BATCHES:
        rows = slice(start, start + size)
        train_step(objective, optimizer, users[rows], pos[rows], neg[rows], replicas)
        start += size
    return model.embedding.weight.detach() - before


def _summary(result: TrainResult) -> dict[str, Any]:
    return {
        "loss": [record.loss for record in result.history],
        "valid": result.valid_metrics,
        "test": result.test_metrics,
        "best_epoch": result.best_epoch,
    }


def _two_processes(snapshot_dir: Path, out: Path) -> None:
    """Run in each of the two processes: the step check and training of both models."""
    snapshot = read_snapshot(snapshot_dir)
    data = TrainData.from_snapshot(snapshot, seed=0)
    record: dict[str, Any] = {}
    for name, config in CONFIGS.items():
        record[f"steps/{name}"] = _sgd_change(config, data, DataParallel())
        record[f"train/{name}"] = _summary(train_distributed(snapshot, config))
    torch.save(record, out / f"rank{dist.get_rank()}.pt")


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return social_snapshot()


@pytest.fixture(scope="module")
def snapshot_dir(snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(snapshot, tmp_path_factory.mktemp("ddp") / "snapshot")


@pytest.fixture(scope="module")
def ranks(snapshot_dir: Path) -> list[dict[str, Any]]:
    """What each of the two processes recorded (one process group for every check)."""
    out = snapshot_dir.parent
    spawn(2, _two_processes, (snapshot_dir, out))
    return [torch.load(out / f"rank{rank}.pt") for rank in range(2)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_two_processes_take_the_single_process_step(
    name: str, snapshot: Snapshot, ranks: list[dict[str, Any]]
) -> None:
    data = TrainData.from_snapshot(snapshot, seed=0)
    single = _sgd_change(CONFIGS[name], data, Replicas())
    assert single.abs().max() > 1e-3  # the steps moved the weights
    torch.testing.assert_close(ranks[0][f"steps/{name}"], single)
    torch.testing.assert_close(ranks[1][f"steps/{name}"], ranks[0][f"steps/{name}"])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_two_processes_train_like_one(
    name: str, snapshot: Snapshot, ranks: list[dict[str, Any]]
) -> None:
    single = _summary(train(snapshot, CONFIGS[name]))
    two = ranks[0][f"train/{name}"]
    assert two["loss"] == pytest.approx(single["loss"], rel=1e-5)
    assert two["valid"] == pytest.approx(single["valid"], abs=1e-4)
    assert two["test"] == pytest.approx(single["test"], abs=1e-4)
    assert two["best_epoch"] == single["best_epoch"]
    assert ranks[1][f"train/{name}"] == two  # identical replicas


def test_data_parallel_needs_a_process_group() -> None:
    with pytest.raises(RuntimeError, match=r"no torch\.distributed process group"):
        DataParallel()
