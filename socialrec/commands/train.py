"""CLI commands ``train`` and ``evaluate``: fit a recommender, report on a checkpoint."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from serving.settings import get_settings
from socialrec.console import console, fail

if TYPE_CHECKING:
    from gnn.config import TrainConfig
    from gnn.train import TrainProgress, TrainResult
    from graph.snapshot import Snapshot

    #: A training function: :func:`gnn.train.train` or :func:`gnn.distributed.train_distributed`.
    Fit = Callable[[Snapshot, TrainConfig, TrainProgress | None], TrainResult]


def _read_snapshot(path: Path) -> Snapshot:
    from graph.snapshot import SnapshotError, read_snapshot

    try:
        return read_snapshot(path)
    except SnapshotError as exc:
        raise fail(f"--snapshot: {exc}. Run `socialrec export` first.") from exc


def _metrics_table(title: str, columns: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    names = next(iter(columns.values())).keys()
    for metric in names:
        table.add_row(metric, *(f"{col.get(metric, float('nan')):.4f}" for col in columns.values()))
    return table


MODEL_LABELS = {"lightgcn": "LightGCN", "social": "SocialLightGCN"}


def train(
    model: Annotated[
        str | None,
        typer.Option(
            help="Model: lightgcn | social (LightGCN + friend graph) [default: the --config "
            "file's, else lightgcn]."
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Training configuration JSON (best.json of `socialrec tune`, or by hand); "
            "options given explicitly override it.",
        ),
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot directory [default: <work_dir>/snapshot].")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Checkpoint file to write [default: <work_dir>/model.pt].")
    ] = None,
    fusion: Annotated[
        str | None, typer.Option(help="Social fusion rule: fixed | degree (social).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Maximum epochs.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Adam learning rate.")] = None,
    dim: Annotated[int | None, typer.Option(min=1, help="Embedding size.")] = None,
    layers: Annotated[int | None, typer.Option(min=0, help="Propagation layers.")] = None,
    social_weight: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Weight of the friend-graph message (social)."),
    ] = None,
    ssl_weight: Annotated[
        float | None,
        typer.Option(min=0.0, help="Weight of the SimGCL contrastive loss, 0 = off (social)."),
    ] = None,
    ssl_eps: Annotated[
        float | None, typer.Option(min=0.0, help="Noise added to each layer for the contrast.")
    ] = None,
    ssl_temperature: Annotated[
        float | None, typer.Option(min=0.0, help="Temperature of the contrastive loss.")
    ] = None,
    ssl_ramp_epochs: Annotated[
        int | None,
        typer.Option(
            min=0, help="Epochs over which the contrastive weight ramps up linearly, 0 = none."
        ),
    ] = None,
    ssl_rows: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Contrast the nodes of this many of a step's pairs (the whole batch: "
            "ssl_rows null in --config).",
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Training pairs per step.")] = None,
    steps_per_epoch: Annotated[
        str | None,
        typer.Option(
            metavar="N|auto|all",
            help="At most N steps per epoch (the batch grows): epoch cost linear in the edges "
            "on large graphs. auto: every batch up to 64 steps, else 64 larger steps with the "
            "lr scaled by sqrt(batch growth); all: every batch [default: auto].",
        ),
    ] = None,
    reg_weight: Annotated[float | None, typer.Option(min=0.0, help="L2 weight.")] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Evaluations without improvement before stopping (once past the warm-up and "
            "above popularity).",
        ),
    ] = None,
    warmup: Annotated[
        int | None, typer.Option(min=0, help="Epochs before early stopping may stop.")
    ] = None,
    eval_every: Annotated[
        int | None, typer.Option(min=1, help="Epochs between evaluations.")
    ] = None,
    kinds: Annotated[
        str | None, typer.Option(help="Comma-separated interaction kinds [default: all].")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of split, init and sampling.")] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="torch threads [default: per process, cores / processes]."),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            min=1, help="Train in N local processes (DistributedDataParallel, one replica each)."
        ),
    ] = 1,
    device: Annotated[
        str,
        typer.Option(help="cpu (gloo) | cuda (nccl, one GPU per process, even for N = 1)."),
    ] = "cpu",
    allow_worse_than_popular: Annotated[
        bool,
        typer.Option(
            help="Exit 0 even if the model ends below the popularity baseline on validation "
            "(the checkpoint is written and marked either way)."
        ),
    ] = False,
) -> None:
    """Train a model on a snapshot (early stopping on validation NDCG@10) and save a checkpoint.

    Popularity is scored on the same validation split: a model whose best validation
    NDCG@10 is below it exits 1 (unless --allow-worse-than-popular), its checkpoint marked.
    Defaults of the training options are those of gnn.train.TrainConfig.for_model. With
    --nproc N (or --device cuda, or under torchrun) the processes share each batch and
    all-reduce their gradients: same steps as one process; rank 0 prints and writes.
    """
    from gnn.config import TrainConfig
    from gnn.distributed import launched_by_torchrun

    settings = get_settings()
    snapshot_dir = snapshot or settings.resolved_snapshot_dir
    target = out or settings.resolved_checkpoint_path
    graph = _read_snapshot(snapshot_dir)
    overrides = {
        "social_weight": social_weight,
        "fusion": fusion,
        "ssl_weight": ssl_weight,
        "ssl_eps": ssl_eps,
        "ssl_temperature": ssl_temperature,
        "ssl_ramp_epochs": ssl_ramp_epochs,
        "ssl_rows": ssl_rows,
        "epochs": epochs,
        "lr": lr,
        "embedding_dim": dim,
        "num_layers": layers,
        "batch_size": batch_size,
        "reg_weight": reg_weight,
        "patience": patience,
        "warmup_epochs": warmup,
        "eval_every": eval_every,
        "seed": seed,
        "num_threads": threads,
        "kinds": tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else None,
    }
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if steps_per_epoch is not None:
        given["steps_per_epoch"] = _steps_per_epoch(steps_per_epoch)
    try:
        if config_file is None:
            config = TrainConfig.for_model(model or "lightgcn", **given)
            config.validate()
        else:
            config = _config_from_file(config_file, model, given)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    torchrun = launched_by_torchrun()
    if torchrun and nproc > 1:
        raise fail("--nproc starts local processes; under torchrun use its --nproc-per-node")
    if torchrun or nproc > 1 or device != "cpu":
        del graph  # read above to fail early; each process reads its own
        _train_distributed(
            snapshot_dir, target, config, nproc, device, torchrun, allow_worse_than_popular
        )
        return
    fit_snapshot(
        graph, config, target, snapshot_dir=snapshot_dir, allow_worse=allow_worse_than_popular
    )


def _steps_per_epoch(text: str) -> int | str | None:
    """The ``steps_per_epoch`` field of ``--steps-per-epoch``: an int, ``"auto"`` or ``None``
    (``all``)."""
    value = text.strip().lower()
    if value in ("auto", "all"):
        return None if value == "all" else value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise fail(f"--steps-per-epoch must be a positive integer, auto or all, got {text!r}")


def _config_from_file(path: Path, model: str | None, given: dict[str, Any]) -> TrainConfig:
    """The model's defaults, then the JSON file's fields, then the options ``given``.

    Raises:
        ValueError: naming the file, on a file that cannot be read or an unknown key.
    """
    from gnn.tune import resolve_config

    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--config {path}: {exc}") from exc
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a JSON object of training fields")
    try:
        return resolve_config(values, model, **given)
    except ValueError as exc:
        raise ValueError(f"--config {path}: {exc}") from exc


def _print_header(graph: Snapshot, snapshot_dir: Path | None, config: TrainConfig) -> None:
    counts = graph.meta.get("counts", {})
    where = f" on {snapshot_dir}" if snapshot_dir is not None else ""
    console.print(
        f"training {MODEL_LABELS.get(config.model, config.model)}{where} "
        f"({counts.get('users', graph.num_users):,} users, "
        f"{counts.get('items', graph.num_items):,} items, "
        f"{counts.get('interactions', len(graph.inter_user)):,} interactions)"
    )


def _train_distributed(
    snapshot_dir: Path,
    target: Path,
    config: TrainConfig,
    nproc: int,
    device: str,
    torchrun: bool,
    allow_worse: bool,
) -> None:
    """Run :func:`_train_rank` in the process group torchrun set up, or in ``nproc`` new local
    processes; a failed process exits with code 1 (its own message is printed above)."""
    from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

    from gnn.distributed import backend, run, spawn

    try:
        backend(device)
    except ValueError as exc:
        raise fail(f"--device: {exc}") from exc
    args = (snapshot_dir, target, config, allow_worse)
    if torchrun:
        run(_train_rank, args, device)
        return
    try:
        spawn(nproc, _train_rank, args, device)
    except ValueError as exc:  # raised before any process starts
        raise fail(f"--nproc {nproc}: {exc}") from exc
    except ProcessExitedException as exc:  # it printed its own error, if it could
        raise fail(f"training stopped: {exc.msg}") from exc
    except ProcessRaisedException as exc:
        last = exc.msg.strip().splitlines()[-1]
        raise fail(f"training process {exc.error_index} failed: {last}") from exc


def _train_rank(snapshot_dir: Path, target: Path, config: TrainConfig, allow_worse: bool) -> None:
    """One process of a distributed run: every rank trains its replica; rank 0 alone prints
    the header and progress and writes the checkpoint."""
    import torch.distributed as dist

    from gnn.distributed import train_distributed

    lead = dist.get_rank() == 0
    if lead:
        console.print(f"{dist.get_world_size()} processes, backend {dist.get_backend()}")
    try:
        fit_snapshot(
            snapshot_dir,
            config,
            target if lead else None,
            allow_worse=allow_worse,
            fit=train_distributed,
        )
    except typer.Exit as exc:  # reported above; exit as a process, not a CLI command
        raise SystemExit(exc.exit_code) from None


def fit_snapshot(
    source: Snapshot | Path,
    config: TrainConfig,
    target: Path | None,
    *,
    snapshot_dir: Path | None = None,
    allow_worse: bool = False,
    fit: Fit | None = None,
) -> TrainResult:
    """Read the snapshot, seed, fit, save the checkpoint and report: the one training sequence
    of ``socialrec train``, its distributed ranks and ``socialrec demo``.

    Args:
        source: a snapshot, or the directory to read it from.
        config: the resolved configuration (its ``seed`` seeds the global generators).
        target: the checkpoint file to write; ``None`` trains silently and writes nothing
            (the ranks of a distributed run other than the first).
        snapshot_dir: where ``source`` was read from, for the header line.
        allow_worse: accept a model below the popularity baseline (see :func:`show_result`).
        fit: the training function (default :func:`gnn.train.train`).

    Raises:
        typer.Exit: code 1 on an unreadable snapshot, a bad configuration, an unwritable
            ``target`` or (unless ``allow_worse``) a model worse than popularity.
    """
    from gnn.checkpoint import save_checkpoint, to_checkpoint
    from gnn.train import train
    from socialrec.seeding import seed_everything

    graph = _read_snapshot(source) if isinstance(source, Path) else source
    seed_everything(config.seed)
    fit = fit or train
    if target is None:
        return fit(graph, config, None)
    where = snapshot_dir or (source if isinstance(source, Path) else None)
    _print_header(graph, where, config)
    result = fit_with_progress(graph, config, fit)
    try:
        path = save_checkpoint(to_checkpoint(result), target)
    except OSError as exc:
        raise fail(f"--out {target}: {exc}") from exc
    show_result(result, path, allow_worse)
    return result


def fit_with_progress(graph: Snapshot, config: TrainConfig, fit: Fit | None = None) -> TrainResult:
    """Train on ``graph`` (``fit``, default :func:`gnn.train.train`) with an epoch progress bar
    on a terminal, plain periodic lines (:func:`plain_progress`) otherwise; a bad
    configuration exits with code 1."""
    from gnn.train import train

    fit = fit or train
    try:
        if not console.is_terminal:
            return fit(graph, config, plain_progress(config))
        with _progress_bar(config) as (on_epoch, finish):
            result = fit(graph, config, on_epoch)
            finish(result.epochs_run)
            return result
    except ValueError as exc:
        raise fail(str(exc)) from exc


@contextmanager
def _progress_bar(
    config: TrainConfig,
) -> Iterator[tuple[TrainProgress, Callable[[int], None]]]:
    """A rich epoch bar; yields the epoch callback and ``finish(epochs_run)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gnn.train import EpochRecord

    with Progress(
        TextColumn("epoch {task.completed:>4.0f}/{task.total:.0f}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("", total=config.epochs)
        best = [0.0]

        def on_epoch(record: EpochRecord) -> None:
            if record.valid is not None:
                best[0] = max(best[0], record.valid[config.monitor])
            progress.update(
                task,
                advance=1,
                description=f"loss {record.loss:.4f}  best valid {config.monitor} {best[0]:.4f}",
            )

        yield on_epoch, lambda epochs_run: progress.update(task, total=epochs_run)


def plain_progress(config: TrainConfig, interval_s: float = 10.0) -> TrainProgress:
    """An epoch callback for output that is not a terminal: one plain line after the first
    and the last epoch and whenever ``interval_s`` seconds passed since the last line, with
    the loss, the validation metric (best so far), elapsed time and the time to the maximum
    epochs (an upper bound: early stopping may end sooner)."""
    from gnn.train import EpochRecord

    started = time.monotonic()
    state = {"last": -math.inf, "best": -math.inf}

    def on_epoch(record: EpochRecord) -> None:
        value = math.nan if record.valid is None else record.valid[config.monitor]
        if record.valid is not None:
            state["best"] = max(state["best"], value)
        now = time.monotonic()
        if record.epoch not in (1, config.epochs) and now - state["last"] < interval_s:
            return
        state["last"] = now
        elapsed = now - started
        left = elapsed / record.epoch * (config.epochs - record.epoch)
        console.print(
            f"epoch {record.epoch}/{config.epochs} loss {record.loss:.4f} valid "
            f"{config.monitor} {value:.4f} (best {state['best']:.4f}) elapsed {elapsed:.0f}s "
            f"eta <= {left:.0f}s",
            highlight=False,
            soft_wrap=True,
        )

    return on_epoch


def show_result(result: TrainResult, path: Path, allow_worse: bool = False) -> None:
    """Print the best epoch's validation and test metrics beside popularity's and where the
    checkpoint is; a model below popularity on validation exits 1 unless ``allow_worse``."""
    stop = "early stop" if result.stopped_early else "max epochs"
    console.print(
        _metrics_table(
            f"best epoch {result.best_epoch} of {result.epochs_run} ({stop}), "
            f"{result.sec_per_epoch:.2f} s/epoch",
            {
                "valid": result.valid_metrics,
                "test": result.test_metrics,
                "popular valid": result.popular_valid,
                "popular test": result.popular_test,
            },
        )
    )
    console.print(f"checkpoint: {path}")
    monitor = result.config.monitor
    if result.cut_short:
        console.print(
            f"[bold yellow]note:[/] validation {monitor} was still improving when --epochs "
            f"{result.config.epochs} ended training (best epoch {result.best_epoch}); more "
            "--epochs may give a better model"
        )
    if result.beats_popular:
        return
    message = (
        f"the model is worse than recommending the most popular items: best validation "
        f"{monitor} {result.valid_metrics.get(monitor, float('nan')):.4f} < popularity's "
        f"{result.popular_valid[monitor]:.4f} (checkpoint marked). Try more --epochs, another "
        "--lr or `socialrec tune`"
    )
    if not allow_worse:
        raise fail(message + "; --allow-worse-than-popular accepts it")
    console.print(f"[bold yellow]warning:[/] {message}")


def evaluate(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file [default: <work_dir>/model.pt].")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot it was trained on [default: <work_dir>/snapshot].")
    ] = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    report: Annotated[
        Path | None,
        typer.Option(help="Report directory [default: <checkpoint dir>/report-<checkpoint name>]."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Another checkpoint trained on the same snapshot and split (e.g. a LightGCN) "
            "to report beside this one."
        ),
    ] = None,
) -> None:
    """Evaluate a checkpoint on its snapshot's test (or valid) split (full ranking) beside the
    popularity baseline (and --reference) and write a report: report.json (with the model
    card), learning_curves.png and activity.png."""
    from gnn.baselines import popularity_metrics
    from gnn.checkpoint import (
        CheckpointError,
        checkpoint_data,
        evaluate_checkpoint,
        load_checkpoint,
    )
    from gnn.config import TrainConfig
    from gnn.report import build_report, write_report

    settings = get_settings()
    if split not in ("test", "valid"):
        raise fail(f"--split must be test or valid, got {split!r}")
    path = checkpoint or settings.resolved_checkpoint_path
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise fail(f"--checkpoint: {exc}") from exc
    graph = _read_snapshot(snapshot or settings.resolved_snapshot_dir)
    config = TrainConfig.from_dict(ckpt.train_config)
    try:
        data = checkpoint_data(ckpt, graph)
        result = build_report(
            ckpt.user_embeddings,
            ckpt.item_embeddings,
            data,
            split,
            config.ks,
            batch_size=config.eval_batch_size,
        )
        popular = popularity_metrics(data, split, config.ks, batch_size=config.eval_batch_size)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    result["model"] = {"name": ckpt.model_name, "version": ckpt.model_version}
    result["popular"] = popular
    references = {}
    if reference is not None:
        try:
            other = load_checkpoint(reference)
            same = TrainConfig.from_dict(other.train_config)
            if (same.seed, same.ratios, same.kinds) != (config.seed, config.ratios, config.kinds):
                raise ValueError("it was trained on another split (seed, ratios or kinds differ)")
            references[other.model_name] = evaluate_checkpoint(other, graph, split, config.ks)
        except ValueError as exc:  # CheckpointError included
            raise fail(f"--reference {reference}: {exc}") from exc
    result["references"] = references
    result["card"] = ckpt.card
    result["warnings"] = ckpt.quality_warnings
    history = ckpt.metrics.get("history")
    target = report or path.with_name(f"report-{path.stem}")
    try:
        files = write_report(
            result, target, history if isinstance(history, list) else None, config.monitor
        )
    except OSError as exc:
        raise fail(f"--report {target}: {exc}") from exc
    columns = {"now": result["metrics"], "popular": popular, **references}
    stored = ckpt.metrics.get(split)
    if isinstance(stored, dict):
        columns["at training"] = stored
    columns[f"cold start (<= {result['cold_start']['max_train']})"] = result["cold_start"][
        "metrics"
    ]
    columns["long tail"] = result["long_tail"]["metrics"]
    console.print(_metrics_table(f"{ckpt.model_version} on the {split} split", columns))
    activity = Table(title="by training interactions per user")
    activity.add_column("bucket")
    activity.add_column("users", justify="right")
    for name in ("recall@10", "ndcg@10"):
        activity.add_column(name, justify="right")
    for row in result["by_activity"]:
        activity.add_row(
            row["bucket"],
            str(row["users"]),
            *(f"{row['metrics'].get(m, float('nan')):.4f}" for m in ("recall@10", "ndcg@10")),
        )
    console.print(activity)
    console.print(
        " ".join(f"{name} {value:.4f}" for name, value in result["coverage"].items())
        + f" ({result['users']} users evaluated)"
    )
    console.print("report: " + ", ".join(str(f) for f in files))
    for warning in result["warnings"]:
        console.print(f"[bold yellow]warning:[/] {warning}")


def register(app: typer.Typer) -> None:
    """Add the ``train`` and ``evaluate`` commands to ``app``."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
