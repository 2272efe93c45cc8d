"""Training on a small planted-structure graph and its checkpoints (serving a trained model:
tests/serving/test_trained_lightgcn.py; the CLI: tests/socialrec/test_train_cli.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import gnn.config
import gnn.train
from gnn.checkpoint import evaluate_checkpoint, to_checkpoint
from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.evaluate import evaluate
from gnn.train import NegativeSampler, TrainResult, should_stop, train
from graph.snapshot import Snapshot
from tests.gnn.worlds import PLANTED_CONFIG as CONFIG
from tests.gnn.worlds import planted_snapshot


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return planted_snapshot()


@pytest.fixture(scope="module")
def result(snapshot: Snapshot) -> TrainResult:
    return train(snapshot, CONFIG)


def test_training_beats_popularity_and_random(result: TrainResult) -> None:
    data = result.data
    learned = result.valid_metrics["recall@10"]
    popularity = torch.bincount(data.train_item, minlength=data.num_items).float()
    pop = evaluate(torch.ones(data.num_users, 1), popularity[:, None], data, "valid")
    assert result.popular_valid == pytest.approx(pop)  # the run scores the same baseline
    assert result.beats_popular
    gen = torch.Generator().manual_seed(0)
    rand = evaluate(
        torch.randn(data.num_users, 8, generator=gen),
        torch.randn(data.num_items, 8, generator=gen),
        data,
        "valid",
    )
    assert learned > pop["recall@10"] + 0.2
    assert learned > rand["recall@10"] + 0.2
    assert result.test_metrics["recall@10"] > pop["recall@10"] + 0.1
    losses = [r.loss for r in result.history]
    assert losses[-1] < losses[0]


def test_best_epoch_is_chosen_on_validation(result: TrainResult) -> None:
    monitored = [r.valid[CONFIG.monitor] for r in result.history if r.valid is not None]
    assert len(monitored) == CONFIG.epochs  # eval_every=1
    assert result.best_epoch == int(np.argmax(monitored)) + 1
    assert result.valid_metrics[CONFIG.monitor] == max(monitored)
    # The kept embeddings are the best model's: re-evaluating reproduces its valid metrics.
    again = evaluate(result.user_embeddings, result.item_embeddings, result.data, "valid")
    assert again == pytest.approx(result.valid_metrics)


def test_training_stops_when_patience_runs_out_and_keeps_the_best_weights(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scripted validation curve (best at epoch 3, far above popularity, then lower) MUST
    stop after epoch 3 + patience, keeping epoch 3's embeddings."""
    scripted = iter([0.6, 0.7, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8])
    seen: list[Tensor] = []
    real_evaluate = gnn.train.evaluate

    def scripted_evaluate(
        user: Tensor, item: Tensor, data: TrainData, split: str, *args: Any, **kw: Any
    ) -> dict[str, float]:
        metrics = real_evaluate(user, item, data, split, *args, **kw)
        if split != "valid":
            return metrics
        seen.append(user.clone())
        return {**metrics, CONFIG.monitor: next(scripted)}

    monkeypatch.setattr(gnn.train, "evaluate", scripted_evaluate)
    config = replace(CONFIG, epochs=50, patience=3, eval_every=1, warmup_epochs=0)
    out = train(snapshot, config)
    assert out.popular_valid[CONFIG.monitor] < 0.6
    assert out.stopped_early and not out.cut_short
    assert (out.best_epoch, out.epochs_run) == (3, 6)
    assert out.valid_metrics[CONFIG.monitor] == 0.9
    assert torch.equal(out.user_embeddings, seen[2])
    assert not torch.equal(out.user_embeddings, seen[-1])


def test_cut_short_when_the_epoch_cap_stops_an_improving_run(result: TrainResult) -> None:
    window = result.config.patience * result.config.eval_every
    runs = replace(result, stopped_early=False, history=result.history * (window + 1))
    assert replace(runs, best_epoch=runs.epochs_run - window + 1).cut_short
    assert not replace(runs, best_epoch=runs.epochs_run - window).cut_short
    assert not replace(runs, best_epoch=runs.epochs_run, stopped_early=True).cut_short


def test_early_stopping_respects_patience(snapshot: Snapshot) -> None:
    config = replace(CONFIG, lr=0.5, epochs=60, patience=3, eval_every=2, warmup_epochs=0)
    out = train(snapshot, config)
    assert out.stopped_early and out.beats_popular
    assert out.epochs_run - out.best_epoch == config.patience * config.eval_every


def test_early_stopping_waits_for_the_warm_up(snapshot: Snapshot) -> None:
    config = replace(CONFIG, lr=0.5, epochs=60, patience=1, warmup_epochs=20)
    out = train(snapshot, config)
    assert out.stopped_early and out.epochs_run >= config.warmup_epochs


def first_stop(curve: list[float], baseline: float, patience: int, warmup: int) -> int | None:
    """The first epoch (one evaluation per epoch) after which :func:`should_stop` stops."""
    for epoch in range(1, len(curve) + 1):
        if should_stop(curve[:epoch], epoch, baseline, patience=patience, warmup_epochs=warmup):
            return epoch
    return None


#: A SimGCL-like start: flat well below popularity (0.1) for 60 epochs, then it learns
#: (best 0.5 at epoch 120) and stays flat.
FLAT_START = [0.01] * 60 + [0.01 + 0.49 * n / 60 for n in range(1, 61)] + [0.4] * 100


@pytest.mark.parametrize(
    ("curve", "baseline", "patience", "warmup", "expected"),
    [
        (FLAT_START, 0.1, 50, 30, 170),  # flat start below popularity: waits, then patience
        (FLAT_START, 0.1, 20, 0, 140),  # old patience: without the guard it stopped at 21
        (FLAT_START, 0.6, 50, 30, None),  # never beats popularity: runs to max epochs
        ([0.3] + [0.2] * 99, 0.1, 5, 30, 30),  # beats popularity at once: warm-up binds
        ([0.3] + [0.2] * 99, 0.1, 5, 0, 6),  # no warm-up: patience alone
        ([0.1, 0.3, 0.3, 0.3, 0.3], 0.1, 2, 0, 4),  # ties are no improvement
        ([0.2] * 10, 0.2, 1, 0, None),  # equal to popularity is not beating it
    ],
)
def test_stopping_rule_on_scripted_curves(
    curve: list[float], baseline: float, patience: int, warmup: int, expected: int | None
) -> None:
    assert first_stop(curve, baseline, patience, warmup) == expected


def test_default_patience_is_the_protocols() -> None:
    assert TrainConfig().patience == 50
    assert TrainConfig.for_model("social").patience == 50


def test_training_is_seeded(snapshot: Snapshot, result: TrainResult) -> None:
    again = train(snapshot, replace(CONFIG, epochs=3))
    twice = train(snapshot, replace(CONFIG, epochs=3))
    torch.testing.assert_close(again.user_embeddings, twice.user_embeddings)
    assert again.test_metrics == twice.test_metrics


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"), [(16, None), (16, 2), (16, 10_000), (10_000, 2)]
)
def test_steps_per_epoch_caps_the_steps_by_growing_the_batch(
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
    steps_per_epoch: int | None,
) -> None:
    sizes: list[int] = []

    def counting_step(*args: Any) -> float:
        sizes.append(args[2].numel())
        return real_step(*args)

    real_step = gnn.train.train_step
    monkeypatch.setattr(gnn.train, "train_step", counting_step)
    pairs = TrainData.from_snapshot(snapshot, seed=CONFIG.seed).train_user.numel()
    config = replace(CONFIG, epochs=1, batch_size=batch_size, steps_per_epoch=steps_per_epoch)
    train(snapshot, config)
    size = batch_size if steps_per_epoch is None else max(batch_size, -(-pairs // steps_per_epoch))
    assert sum(sizes) == pairs
    assert sizes[:-1] == [size] * (len(sizes) - 1)
    assert len(sizes) == -(-pairs // size)
    if steps_per_epoch is not None:
        assert len(sizes) <= steps_per_epoch


@pytest.mark.parametrize(
    ("steps_per_epoch", "pairs", "batch", "steps", "lr_factor"),
    [
        ("auto", 74_000, 4096, 19, 1.0),  # Last.fm-sized: exactly the protocol's epoch
        ("auto", 64 * 4096, 4096, 64, 1.0),  # the largest split that keeps it
        ("auto", 64 * 4096 * 9, 9 * 4096, 64, 3.0),  # batch x9 -> lr x3
        (None, 64 * 4096 * 9, 4096, 64 * 9, 1.0),  # every batch
        (8, 64 * 4096, 8 * 4096, 8, 1.0),  # a fixed cap keeps the lr as given
    ],
)
def test_epoch_plan(
    steps_per_epoch: int | str | None, pairs: int, batch: int, steps: int, lr_factor: float
) -> None:
    config = TrainConfig(steps_per_epoch=steps_per_epoch)  # type: ignore[arg-type]
    plan = config.epoch_plan(pairs)
    assert (plan.batch_size, plan.steps) == (batch, steps)
    assert plan.lr == pytest.approx(config.lr * lr_factor, rel=1e-12)


def test_auto_epoch_is_the_protocols_on_small_graphs(snapshot: Snapshot) -> None:
    auto = train(snapshot, replace(CONFIG, epochs=3, steps_per_epoch="auto"))
    every = train(snapshot, replace(CONFIG, epochs=3, steps_per_epoch=None))
    assert auto.plan == every.plan
    assert torch.equal(auto.user_embeddings, every.user_embeddings)
    assert [r.loss for r in auto.history] == [r.loss for r in every.history]


def test_auto_epoch_on_a_large_graph_grows_the_batch_and_the_lr(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cap lowered to 4 steps, the planted graph is 'large': 4 steps of
    ``ceil(pairs / 4)`` pairs each, at the square-root-scaled learning rate."""
    steps: list[tuple[int, float]] = []

    def recording_step(*args: Any) -> float:
        steps.append((args[2].numel(), args[1].param_groups[0]["lr"]))
        return real_step(*args)

    real_step = gnn.train.train_step
    monkeypatch.setattr(gnn.train, "train_step", recording_step)
    monkeypatch.setattr(gnn.config, "AUTO_MAX_STEPS", 4)
    pairs = TrainData.from_snapshot(snapshot, seed=CONFIG.seed).train_user.numel()
    out = train(snapshot, replace(CONFIG, epochs=1, batch_size=16))
    size = -(-pairs // 4)
    lr = CONFIG.lr * (size / 16) ** 0.5
    assert [n for n, _ in steps] == [size] * 3 + [pairs - 3 * size]
    assert [step_lr for _, step_lr in steps] == pytest.approx([lr] * 4)
    assert out.plan is not None and (out.plan.batch_size, out.plan.steps) == (size, 4)
    assert to_checkpoint(out).metrics["epoch_plan"] == {
        "batch_size": size,
        "steps": 4,
        "lr": out.plan.lr,
    }


def test_negative_sampler_avoids_positives() -> None:
    user = torch.tensor([0, 0, 0, 1])
    item = torch.tensor([0, 1, 2, 3])
    sampler = NegativeSampler(user, item, num_items=5)
    draws = sampler.sample(torch.tensor([0] * 500 + [1] * 500), torch.Generator().manual_seed(0))
    assert set(draws[:500].tolist()) == {3, 4}
    assert set(draws[500:].tolist()) == {0, 1, 2, 4}


def test_evaluate_checkpoint_rejects_other_snapshot(result: TrainResult) -> None:
    ckpt = to_checkpoint(result)
    with pytest.raises(ValueError, match="trained on snapshot"):
        evaluate_checkpoint(ckpt, planted_snapshot(seed=1))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", 0.0),
        ("epochs", 0),
        ("batch_size", 0),
        ("monitor", "ndcg@5"),
        ("monitor", "auc@10"),
        ("num_layers", -1),
        ("reg_weight", -1.0),
        ("steps_per_epoch", 0),
        ("steps_per_epoch", "fast"),
    ],
)
def test_config_errors_name_the_field(snapshot: Snapshot, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        train(snapshot, replace(CONFIG, **{field: value}))  # type: ignore[arg-type]


def test_train_data_without_validation_is_rejected() -> None:
    data = TrainData.from_interactions([0, 1], [0, 1], 2, 2, seed=0)  # one pair per user
    with pytest.raises(ValueError, match="no validation"):
        train(data, CONFIG)
