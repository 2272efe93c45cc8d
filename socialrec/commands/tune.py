"""CLI command ``tune``: search a model's hyperparameters on the validation split."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from serving.settings import get_settings
from socialrec.console import console, fail

if TYPE_CHECKING:
    from gnn.train import EpochRecord
    from gnn.tune import TrialRecord, TuneResult
    from graph.snapshot import Snapshot


#: Seconds between the progress lines printed during a trial.
PROGRESS_EVERY_S = 30.0


def tune(
    model: Annotated[
        str, typer.Option(help="Model: lightgcn | social (LightGCN + friend graph).")
    ] = "lightgcn",
    budget: Annotated[
        str | None,
        typer.Option(help="Wall-time budget: 90s, 20m, 1h (at least one of --budget, --trials)."),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Number of trials (deterministic given --seed).")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot directory [default: <work_dir>/snapshot].")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory [default: <work_dir>/tune-<model>]."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the sampler, the split and training [default: the model's]."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Maximum epochs per trial.")] = None,
    patience: Annotated[
        int | None, typer.Option(min=1, help="Evaluations without improvement before stopping.")
    ] = None,
    prune_warmup: Annotated[
        int, typer.Option(min=0, help="Epochs before a trial may be pruned.")
    ] = 50,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads.")] = None,
) -> None:
    """Search hyperparameters on the validation split (Optuna TPE, median pruning) and write
    best.json (a training configuration for `socialrec train --config`), trials.json and
    trials.png to --out."""
    from gnn.train import TrainConfig
    from gnn.tune import parse_budget
    from gnn.tune import tune as run_tune
    from socialrec.seeding import seed_everything

    settings = get_settings()
    if budget is None and trials is None:
        raise fail("give --budget (e.g. 20m) or --trials N, or both")
    try:
        budget_s = None if budget is None else parse_budget(budget)
        overrides = {"seed": seed, "epochs": epochs, "patience": patience, "num_threads": threads}
        base = TrainConfig.for_model(model, **{k: v for k, v in overrides.items() if v is not None})
        base.validate()
    except ValueError as exc:
        raise fail(str(exc)) from exc
    target = out or settings.work_dir / f"tune-{model}"
    graph = _read_snapshot(snapshot or settings.resolved_snapshot_dir)
    seed_everything(base.seed)
    limits = [f"{trials} trials"] * (trials is not None) + [f"budget {budget}"] * (
        budget_s is not None
    )
    console.print(
        f"tuning {model} on {graph.num_users:,} users, {graph.num_items:,} items "
        f"({', '.join(limits)}; valid {base.monitor}, at most {base.epochs} epochs a trial)"
    )
    started = time.monotonic()

    last_line = [started]

    def on_epoch(number: int, record: EpochRecord) -> None:
        now = time.monotonic()
        if now - last_line[0] >= PROGRESS_EVERY_S:
            last_line[0] = now
            valid = "" if record.valid is None else f" valid {record.valid[base.monitor]:.4f}"
            console.print(
                f"  trial {number:>3} epoch {record.epoch:>4} loss {record.loss:.4f}{valid}  "
                f"elapsed {now - started:7.0f}s"
            )

    def on_trial(record: TrialRecord, best: TrialRecord | None) -> None:
        last_line[0] = time.monotonic()
        console.print(
            f"trial {record.number:>3} {record.state:<8} {_value(record.value)} "
            f"best {_value(best.value if best else None)}  epochs {record.epochs_run:>4}  "
            f"{record.seconds:6.1f}s  elapsed {time.monotonic() - started:7.0f}s  "
            f"{_params(record.params)}"
        )

    try:
        result = run_tune(
            graph,
            base,
            trials=trials,
            budget_s=budget_s,
            seed=base.seed,
            prune_warmup=prune_warmup,
            progress=on_trial,
            epoch_progress=on_epoch,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        files = _write(result, target)
    except OSError as exc:
        raise fail(f"--out {target}: {exc}") from exc
    console.print(_best_table(result))
    console.print("wrote " + ", ".join(str(f) for f in files))
    console.print(f"train with it: socialrec train --config {files[0]}")


def _read_snapshot(path: Path) -> Snapshot:
    from graph.snapshot import SnapshotError, read_snapshot

    try:
        return read_snapshot(path)
    except SnapshotError as exc:
        raise fail(f"--snapshot: {exc}. Run `socialrec export` first.") from exc


def _value(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "   -  "


def _params(params: dict[str, Any]) -> str:
    return " ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def _write(result: TuneResult, target: Path) -> list[Path]:
    """best.json, trials.json and trials.png in ``target``; returns their paths."""
    from gnn.tune import plot_trials

    target.mkdir(parents=True, exist_ok=True)
    best, table, plot = target / "best.json", target / "trials.json", target / "trials.png"
    best.write_text(json.dumps(result.best_config.to_dict(), indent=2) + "\n")
    table.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    plot_trials(result, plot)
    return [best, table, plot]


def _best_table(result: TuneResult) -> Table:
    """The five best complete trials, the base configuration's trial marked."""
    complete = [t for t in result.trials if t.state == "complete" and t.value is not None]
    top = sorted(complete, key=lambda t: -(t.value or 0.0))[:5]
    pruned = sum(t.state == "pruned" for t in result.trials)
    table = Table(
        title=f"{len(result.trials)} trials ({pruned} pruned), best valid {result.monitor} "
        f"{_value(result.best.value)} (trial {result.best.number}; trial 0 = defaults)"
    )
    for column in ("trial", f"valid {result.monitor}", "best epoch", "parameters"):
        table.add_column(column)
    for t in top:
        table.add_row(str(t.number), _value(t.value), str(t.best_epoch), _params(t.params))
    return table


def register(app: typer.Typer) -> None:
    """Add ``tune`` to ``app``."""
    app.command()(tune)
