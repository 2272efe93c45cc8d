"""The default epoch that scales (issue 22): ``steps_per_epoch="auto"`` against every batch.

Before, an epoch took every batch of 4,096 training pairs and each batch propagates the whole
graph, so an epoch cost ~edges squared. ``TrainConfig``'s default is now ``"auto"``
(:meth:`gnn.config.TrainConfig.epoch_plan`): at most :data:`gnn.config.AUTO_MAX_STEPS` steps,
the batch grown to fit and the learning rate scaled by ``sqrt(batch / 4096)``; small graphs
keep exactly the old epoch. This benchmark checks both halves on real runs:

- **Last.fm** (``--lastfm DIR``, RecBole atomic files; skipped when absent): LightGCN defaults
  with ``steps_per_epoch=None`` (the old default) and ``"auto"`` for ``--lastfm-epochs`` epochs
  on the same split; ``lastfm_identical=1`` when both runs have the same epoch plan, the same
  loss history and bit-identical embeddings (so the quality is the old default's).
- **A synthetic world** of ``--users`` users (:mod:`graph.synthetic`, the snapshot built from
  the world as ``benchmarks/growth.py --snapshot-from world`` does), one split: the old default
  trains ``--every-epochs`` epochs; its wall time (from the call to ``train``: popularity
  baseline, graph building, epochs and their validation evaluations) is the budget ``T``.
  Then ``"auto"`` trains until its next epoch would end past ``T``. Each side's figure is its
  best validation NDCG@10 among the evaluations that ended within ``T``.

Run (one process, LightGCN defaults, ``--threads`` torch threads)::

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.epoch_scaling --users 100000

The last line is ``RESULT users=... train_pairs=... every_steps=... auto_steps=...
auto_batch=... auto_lr=... budget_s=... every_epochs=... auto_epochs=...
every_valid_ndcg10=... auto_valid_ndcg10=... popular_valid_ndcg10=...
auto_time_to_every_s=... lastfm_identical=...`` (``auto_time_to_every_s``: when ``"auto"``
first reached the old default's final value, ``nan`` if never; ``lastfm_identical=nan`` when
the Last.fm files are absent).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.train import EpochRecord, TrainResult, train
from graph.synthetic import WorldConfig, generate_world

MONITOR = "ndcg@10"


class _OutOfTime(Exception):
    """Raised by the epoch callback when the next epoch would end past the budget."""


@dataclass
class Run:
    """One side of the comparison: ``(seconds since train() was called, valid NDCG@10)`` per
    evaluated epoch, and the epoch plan."""

    name: str
    curve: list[tuple[float, float]] = field(default_factory=list)
    popular: float = math.nan
    steps: int = 0
    batch: int = 0
    lr: float = math.nan

    def best_within(self, seconds: float) -> float:
        """The best validation value among evaluations that ended within ``seconds``."""
        return max((v for t, v in self.curve if t <= seconds), default=math.nan)

    def first_reaching(self, value: float) -> float:
        """Seconds until the curve first reached ``value`` (``nan`` if never)."""
        return next((t for t, v in self.curve if v >= value), math.nan)


def timed_run(name: str, data: TrainData, config: TrainConfig, budget_s: float = math.inf) -> Run:
    """Train ``config`` on ``data``, recording the validation curve against wall time; stop
    before an epoch that would end past ``budget_s`` (measured from the call)."""
    run = Run(name)
    plan = config.epoch_plan(data.train_user.numel())
    run.steps, run.batch, run.lr = plan.steps, plan.batch_size, plan.lr
    started = time.perf_counter()
    last = [started]

    def on_epoch(record: EpochRecord) -> None:
        now = time.perf_counter()
        if record.valid is not None:
            run.curve.append((now - started, record.valid[MONITOR]))
        print(
            f"  {name} epoch {record.epoch}: loss {record.loss:.4f} valid {MONITOR} "
            f"{run.curve[-1][1] if run.curve else math.nan:.4f} at {now - started:.0f}s",
            flush=True,
        )
        epoch_s, last[0] = now - last[0], now
        if now - started + epoch_s > budget_s:
            raise _OutOfTime

    try:
        result: TrainResult | None = train(data, config, on_epoch)
    except _OutOfTime:
        result = None
    if result is not None:
        run.popular = result.popular_valid[MONITOR]
    return run


def lastfm_identical(data_dir: Path, epochs: int, threads: int) -> float:
    """1.0 if ``"auto"`` and ``None`` train LightGCN on Last.fm identically for ``epochs``
    epochs (same plan, losses and embeddings), 0.0 if not, ``nan`` without the files."""
    if not (data_dir / "lastfm.inter").is_file():
        print(f"Last.fm check skipped: no {data_dir / 'lastfm.inter'}")
        return math.nan
    from benchmarks.lastfm import lastfm_snapshot

    with tempfile.TemporaryDirectory() as work:
        snapshot = lastfm_snapshot(data_dir, Path(work))
    config = TrainConfig(epochs=epochs, num_threads=threads)
    data = TrainData.from_snapshot(snapshot, seed=config.seed)
    results = [train(data, replace(config, steps_per_epoch=steps)) for steps in ("auto", None)]
    auto, every = results
    same = (
        auto.plan == every.plan
        and [r.loss for r in auto.history] == [r.loss for r in every.history]
        and torch.equal(auto.user_embeddings, every.user_embeddings)
        and torch.equal(auto.item_embeddings, every.item_embeddings)
    )
    print(
        f"Last.fm: {data.train_user.numel():,} training pairs, plan {auto.plan}; "
        f"{epochs} epochs identical to every batch: {same}"
    )
    return float(same)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=WorldConfig.num_items)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the world.")
    parser.add_argument("--every-epochs", type=int, default=1, help="Epochs of the old default.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads.")
    parser.add_argument("--lastfm", type=Path, default=Path("../shared/data/lastfm"))
    parser.add_argument("--lastfm-epochs", type=int, default=3)
    args = parser.parse_args(argv)

    identical = lastfm_identical(args.lastfm, args.lastfm_epochs, args.threads)
    started = time.perf_counter()
    world = generate_world(WorldConfig(num_users=args.users, num_items=args.items, seed=args.seed))
    base = TrainConfig(epochs=args.every_epochs, num_threads=args.threads)
    data = TrainData.from_snapshot(world.to_snapshot(), seed=base.seed)
    del world
    pairs = data.train_user.numel()
    print(f"{args.users:,} users: {pairs:,} training pairs ({time.perf_counter() - started:.0f}s)")

    every = timed_run("every", data, replace(base, steps_per_epoch=None))
    budget = every.curve[-1][0]
    auto = timed_run("auto", data, replace(base, epochs=10_000, steps_per_epoch="auto"), budget)
    every_value = every.best_within(budget)
    figures = {
        "users": args.users,
        "train_pairs": pairs,
        "every_steps": every.steps,
        "auto_steps": auto.steps,
        "auto_batch": auto.batch,
        "auto_lr": f"{auto.lr:.5f}",
        "budget_s": f"{budget:.1f}",
        "every_epochs": len(every.curve),
        "auto_epochs": len(auto.curve),
        "every_valid_ndcg10": f"{every_value:.4f}",
        "auto_valid_ndcg10": f"{auto.best_within(budget):.4f}",
        "popular_valid_ndcg10": f"{every.popular:.4f}",
        "auto_time_to_every_s": f"{auto.first_reaching(every_value):.1f}",
        "lastfm_identical": identical,
    }
    print("RESULT " + " ".join(f"{key}={value}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
