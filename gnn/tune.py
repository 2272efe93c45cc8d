"""Hyperparameter search on the validation split with Optuna.

:func:`tune` trains one :class:`gnn.config.TrainConfig` per trial on one fixed split and scores
it by its best validation ``monitor`` value (the value :func:`gnn.train.train` selects its
checkpoint by); the test split is never looked at. The sampler is Optuna's TPE, seeded, so a
search with a trial count (no wall-time budget) is deterministic given its seed. Bad trials are
pruned: after each evaluated epoch a trial reports its best validation value so far, and
Optuna's ``MedianPruner`` stops it when that is below the median of earlier trials at the same
epoch (never before ``prune_warmup`` epochs, so a model that starts slowly, as the social model
with its contrastive loss does, is not cut off before it learns).

Search space (:class:`SearchSpace`): ``lr`` and ``reg_weight`` (log scale), ``embedding_dim``
(a small set), ``num_layers``, and for ``"social"`` also ``social_weight``, ``ssl_weight``
(including 0 = off) and, when it is on, ``ssl_temperature`` and ``ssl_eps`` (log scale).
Every other field comes from the base configuration.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.train import EpochRecord, train
from graph.snapshot import Snapshot

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of the searched fields: ``(low, high)`` pairs are searched between the bounds
    (log scale for ``lr``, ``reg_weight``, ``ssl_temperature``, ``ssl_eps``), tuples of more
    values are categorical choices. ``social_weight`` and the ``ssl_*`` fields are searched for
    the ``"social"`` model only."""

    lr: tuple[float, float] = (5e-4, 5e-2)
    reg_weight: tuple[float, float] = (1e-6, 1e-2)
    embedding_dim: tuple[int, ...] = (32, 64, 128)
    num_layers: tuple[int, int] = (1, 4)
    social_weight: tuple[float, float] = (0.0, 0.5)
    ssl_weight: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
    ssl_temperature: tuple[float, float] = (0.05, 0.5)
    ssl_eps: tuple[float, float] = (0.01, 0.5)

    def suggest(self, trial: optuna.Trial, model: str) -> dict[str, Any]:
        """The fields of one trial's configuration, drawn from ``trial``."""
        params: dict[str, Any] = {
            "lr": trial.suggest_float("lr", *self.lr, log=True),
            "reg_weight": trial.suggest_float("reg_weight", *self.reg_weight, log=True),
            "embedding_dim": trial.suggest_categorical("embedding_dim", self.embedding_dim),
            "num_layers": trial.suggest_int("num_layers", *self.num_layers),
        }
        if model == "social":
            params["social_weight"] = trial.suggest_float("social_weight", *self.social_weight)
            params["ssl_weight"] = trial.suggest_categorical("ssl_weight", self.ssl_weight)
            if params["ssl_weight"] > 0:
                params["ssl_temperature"] = trial.suggest_float(
                    "ssl_temperature", *self.ssl_temperature, log=True
                )
                params["ssl_eps"] = trial.suggest_float("ssl_eps", *self.ssl_eps, log=True)
        return params

    def defaults(self, config: TrainConfig) -> dict[str, Any]:
        """``config``'s values of the searched fields, as a trial to enqueue (see
        :meth:`including`)."""
        values = {
            name: getattr(config, name)
            for name in ("lr", "reg_weight", "embedding_dim", "num_layers")
        }
        if config.model == "social":
            values["social_weight"] = config.social_weight
            values["ssl_weight"] = config.ssl_weight
            if config.ssl_weight > 0:
                values["ssl_temperature"] = config.ssl_temperature
                values["ssl_eps"] = config.ssl_eps
        return values

    def including(self, config: TrainConfig) -> SearchSpace:
        """This space widened to hold ``config``'s values (so that they can be a trial): each
        range stretches to the value (not to a non-positive one on a log scale) and each set
        of choices gains it."""
        changes: dict[str, tuple[Any, ...]] = {}
        for name in (
            "lr",
            "reg_weight",
            "num_layers",
            "social_weight",
            "ssl_temperature",
            "ssl_eps",
        ):
            (low, high), value = getattr(self, name), getattr(config, name)
            if value > 0 or name in ("num_layers", "social_weight"):
                changes[name] = (min(low, value), max(high, value))
        for name in ("embedding_dim", "ssl_weight"):
            choices, value = getattr(self, name), getattr(config, name)
            if value not in choices:
                changes[name] = (*choices, value)
        return dataclasses.replace(self, **changes)


@dataclass
class TrialRecord:
    """One trial.

    Attributes:
        number: 0-based trial number.
        state: ``"complete"``, ``"pruned"`` or ``"failed"``.
        params: the searched fields of its configuration.
        value: its best validation ``monitor`` value (for a pruned trial, the best it had
            reached when stopped; ``None`` if it never evaluated).
        best_epoch: the epoch of that value (0 if none).
        epochs_run: epochs trained.
        seconds: wall time of the trial.
        note: why it was pruned or failed (empty otherwise).
    """

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    best_epoch: int
    epochs_run: int
    seconds: float
    note: str = ""


#: Called after every trial with its record and the best complete record so far (or None).
TuneProgress = Callable[[TrialRecord, "TrialRecord | None"], None]
#: Called after every epoch of a trial with the trial's number and the epoch's record.
EpochProgress = Callable[[int, EpochRecord], None]


@dataclass
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        base: the configuration every trial started from.
        best_config: ``base`` with the best trial's parameters (use it as is to train).
        best: the best complete trial.
        trials: every trial, in order.
        monitor: the validation metric maximised.
        seed: the sampler's seed.
    """

    base: TrainConfig
    best_config: TrainConfig
    best: TrialRecord
    trials: list[TrialRecord] = field(default_factory=list)
    monitor: str = "ndcg@10"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able trial table: ``{"monitor", "seed", "model", "best", "best_config",
        "trials"}`` (each trial as :class:`TrialRecord`'s fields)."""
        return {
            "monitor": self.monitor,
            "seed": self.seed,
            "model": self.base.model,
            "best": dataclasses.asdict(self.best),
            "best_config": self.best_config.to_dict(),
            "trials": [dataclasses.asdict(t) for t in self.trials],
        }


def parse_budget(text: str) -> float:
    """Seconds of a wall-time budget written ``90s``, ``20m``, ``1.5h`` or ``300`` (seconds).

    Raises:
        ValueError: naming ``budget`` and the text when it is not such a positive duration.
    """
    match = _BUDGET.match(text)
    seconds = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    if seconds <= 0:
        raise ValueError(f"budget must be a positive duration such as 90s, 20m or 1h, got {text!r}")
    return seconds


def tune(
    source: Snapshot | TrainData,
    base: TrainConfig,
    *,
    trials: int | None = None,
    budget_s: float | None = None,
    seed: int = 0,
    space: SearchSpace | None = None,
    include_base: bool = True,
    prune_warmup: int = 50,
    progress: TuneProgress | None = None,
    epoch_progress: EpochProgress | None = None,
) -> TuneResult:
    """Search the hyperparameters of ``base.model`` on the validation split.

    Args:
        source: a snapshot (split once with ``base.seed``, ``base.ratios``, ``base.kinds``)
            or an already split :class:`TrainData`; every trial trains on the same split.
        base: the configuration the searched fields replace (epochs, patience, seed, ...).
        trials: stop after this many trials.
        budget_s: stop after this many seconds of wall time; a trial still running then is
            stopped (recorded as pruned with note ``"budget"``). At least one of ``trials``
            and ``budget_s`` must be given; with a budget the number of trials, hence the
            result, depends on the machine's speed.
        seed: seeds the TPE sampler (training itself is seeded by ``base.seed``).
        space: the search space (default :class:`SearchSpace`).
        include_base: make trial 0 ``base``'s own values, so the search never returns a
            configuration worse on validation than the one it started from.
        prune_warmup: epochs before a trial may be pruned.
        progress: called after every trial (see :data:`TuneProgress`).
        epoch_progress: called after every epoch of every trial (see :data:`EpochProgress`).

    Returns:
        The best configuration and the trial table.

    Raises:
        ValueError: on an invalid ``base``, no stopping rule, a non-positive ``trials`` or
            ``budget_s``, a negative ``prune_warmup``, or when no trial completed.
    """
    base.validate()
    if trials is None and budget_s is None:
        raise ValueError("give trials or budget_s (or both); got neither")
    if trials is not None and trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if budget_s is not None and not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"budget_s must be a positive number of seconds, got {budget_s}")
    if prune_warmup < 0:
        raise ValueError(f"prune_warmup must be >= 0, got {prune_warmup}")
    data = (
        TrainData.from_snapshot(source, seed=base.seed, kinds=base.kinds, ratios=base.ratios)
        if isinstance(source, Snapshot)
        else source
    )
    space = (space or SearchSpace()).including(base)
    deadline = None if budget_s is None else time.monotonic() + budget_s
    records: list[TrialRecord] = []

    def objective(trial: optuna.Trial) -> float:
        record = _run_trial(trial, data, base, space, deadline, epoch_progress)
        records.append(record)
        if progress is not None:
            progress(record, _best(records))
        if record.state == "pruned":
            if record.note == "budget":
                study.stop()
            raise optuna.TrialPruned(record.note)
        assert record.value is not None
        return record.value

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_warmup_steps=prune_warmup),
        )
        if include_base:
            study.enqueue_trial(space.defaults(base))
        study.optimize(objective, n_trials=trials, timeout=budget_s)
    finally:
        optuna.logging.set_verbosity(verbosity)
    best = _best(records)
    if best is None:
        last = records[-1] if records else None
        where = f"; trial {last.number} had run {last.epochs_run} epochs" if last else ""
        raise ValueError(
            f"no trial completed within the budget ({len(records)} started{where}); "
            "give a larger budget or fewer epochs"
        )
    return TuneResult(
        base=base,
        best_config=dataclasses.replace(base, **best.params),
        best=best,
        trials=records,
        monitor=base.monitor,
        seed=seed,
    )


def _best(records: list[TrialRecord]) -> TrialRecord | None:
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    return max(complete, key=lambda r: (r.value, -r.number), default=None)


class _Stop(Exception):
    """Raised from the epoch callback to end a trial early."""


def _run_trial(
    trial: optuna.Trial,
    data: TrainData,
    base: TrainConfig,
    space: SearchSpace,
    deadline: float | None,
    epoch_progress: EpochProgress | None,
) -> TrialRecord:
    params = space.suggest(trial, base.model)
    config = dataclasses.replace(base, **params)
    best = [-math.inf, 0]
    epochs = [0]

    def on_epoch(record: EpochRecord) -> None:
        epochs[0] = record.epoch
        if epoch_progress is not None:
            epoch_progress(trial.number, record)
        if record.valid is not None and record.valid[base.monitor] > best[0]:
            best[0], best[1] = record.valid[base.monitor], record.epoch
        if deadline is not None and time.monotonic() > deadline:
            raise _Stop("budget")
        if record.valid is not None:
            trial.report(best[0], record.epoch)
            if trial.should_prune():
                raise _Stop(f"below the median at epoch {record.epoch}")

    started = time.monotonic()
    state, note = "complete", ""
    try:
        train(data, config, on_epoch)
    except _Stop as stop:
        state, note = "pruned", str(stop)
    value = best[0] if math.isfinite(best[0]) else None
    seconds = time.monotonic() - started
    return TrialRecord(trial.number, state, params, value, int(best[1]), epochs[0], seconds, note)


def resolve_config(
    values: Mapping[str, Any], model: str | None = None, **overrides: Any
) -> TrainConfig:
    """A configuration from a dict as :meth:`TrainConfig.to_dict` (or a tuning run's
    ``best.json``) writes it, possibly partial: the model's defaults
    (:meth:`TrainConfig.for_model`), then ``values``, then the ``overrides`` (field names;
    ``model`` overrides ``values["model"]``).

    Raises:
        ValueError: naming the first unknown key, or an invalid field.
    """
    known = TrainConfig.__dataclass_fields__
    for key in values:
        if key not in known:
            raise ValueError(f"unknown key {key!r}; the keys are {', '.join(known)}")
    model = model or values.get("model", "lightgcn")
    merged = {**TrainConfig.for_model(model).to_dict(), **values, "model": model}
    config = dataclasses.replace(TrainConfig.from_dict(merged), **overrides)
    try:
        config.validate()
    except TypeError as exc:  # a field of the wrong type, e.g. "lr": "fast"
        raise ValueError(f"a field has the wrong type: {exc}") from exc
    return config


def plot_trials(result: TuneResult, path: Path) -> None:
    """Write a PNG of the validation value of every trial (pruned ones marked) and the best
    value so far."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for state, marker in (("complete", "o"), ("pruned", "x")):
        points = [(t.number, t.value) for t in result.trials if t.state == state and t.value]
        if points:
            ax.scatter(*zip(*points, strict=True), marker=marker, label=state)
    best, running = [], -math.inf
    for t in result.trials:
        if t.state == "complete" and t.value is not None:
            running = max(running, t.value)
        best.append(running if math.isfinite(running) else math.nan)
    ax.step([t.number for t in result.trials], best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"valid {result.monitor}")
    ax.set_title(f"tuning {result.base.model} ({len(result.trials)} trials)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
