"""CLI commands ``experiment simulate`` (offline replay on a synthetic world) and
``experiment report NAME`` (the live report from the store: table + PNG)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from socialrec.console import console, fail

if TYPE_CHECKING:
    from serving.experiment_stats import Interval
    from serving.online_metrics import ExperimentReport


def simulate(
    a: Annotated[
        str, typer.Option(help="Control ranker: popular, lightgcn, social, oracle or random.")
    ] = "popular",
    b: Annotated[str, typer.Option(help="Treatment ranker (same choices).")] = "lightgcn",
    users: Annotated[int, typer.Option(min=100, help="Users of the synthetic world.")] = 2000,
    items: Annotated[int, typer.Option(min=20, help="Items of the synthetic world.")] = 400,
    replays: Annotated[int, typer.Option(min=1, help="A/A and A/B replays each.")] = 100,
    k: Annotated[int, typer.Option(min=1, help="Items served per user.")] = 10,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Test level.")] = 0.05,
    epochs: Annotated[int, typer.Option(min=1, help="Most training epochs of a model.")] = 40,
    seed: Annotated[int, typer.Option(min=0, help="World and replay seed.")] = 0,
) -> None:
    """Replay A/A and A/B experiments on a synthetic world whose preferences are known.

    Every user is assigned by the serving's salted hash, served the variant's top k, and
    clicks with the ground-truth probability; the CTR goes through the live report's test.
    Prints each ranker's true CTR, the A/A false-positive rate (target: about alpha) and how
    often A/B finds the true difference with its sign.
    """
    from graph.synthetic import WorldConfig
    from serving.experiment_replay import RANKERS
    from serving.experiment_replay import simulate as run

    for name in (a, b):
        if name not in RANKERS:
            raise fail(f"rankers must be one of {', '.join(RANKERS)}, got {name!r}")
    try:
        config = WorldConfig(
            num_users=users,
            num_items=items,
            num_communities=8,
            num_categories=12,
            interactions_per_user=15,
            seed=seed,
        )
        result = run(
            config,
            a,
            b,
            replays=replays,
            k=k,
            alpha=alpha,
            epochs=epochs,
            progress=lambda line: console.print(f"simulate: {line}"),
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    table = Table(title=f"Offline replay: {a} (a) vs {b} (b), {users} users, k={k}")
    for column in ("check", "value"):
        table.add_column(column)
    for name, ctr in result.expected_ctr.items():
        table.add_row(f"true CTR of {name}", f"{ctr:.4f}")
    first = result.first
    table.add_row("true CTR difference b - a", f"{first.expected_difference:+.4f}")
    table.add_row(
        "observed (first replay)",
        f"{first.observed.difference:+.4f} [{first.observed.low:+.4f}, "
        f"{first.observed.high:+.4f}], p={first.observed.p_value:.3g}",
    )
    table.add_row(
        f"A/A false positives ({replays} replays, alpha {alpha})",
        f"{result.aa_false_positive_rate:.3f}",
    )
    table.add_row(f"A/B found with the true sign ({replays})", f"{result.detection_rate:.3f}")
    console.print(table)


def _interval(i: Interval, digits: int = 4) -> str:
    if i.value != i.value:  # nan: no users
        return "-"
    return f"{i.value:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def report_tables(report: ExperimentReport) -> tuple[Table, Table]:
    """The variants' metrics and the tests against the control (segment ``all``)."""
    from serving.experiment_stats import Interval

    metrics = Table(title=f"Experiment {report.experiment}: metrics ({1 - report.alpha:.0%} CI)")
    for column in (
        "variant",
        "users",
        "impr.",
        "CTR",
        "purchases/impr.",
        "conversion/user",
        "revenue/user",
        "7d retention",
        "30d retention",
    ):
        metrics.add_column(column)
    for m in report.metrics:
        if m.segment != "all":
            continue
        metrics.add_row(
            m.variant,
            f"{m.users:,}",
            f"{m.impressions:,}",
            _interval(m.ctr),
            _interval(m.purchases_per_impression),
            _interval(m.conversion_per_user),
            _interval(m.revenue_per_user, 2),
            _interval(m.retention["7d"], 3),
            _interval(m.retention["30d"], 3),
        )
    tests = Table(title=f"Against {report.control} (alpha {report.alpha})")
    for column in ("metric", "variant", "difference [CI]", "p", "test", "significant"):
        tests.add_column(column)
    for c in report.comparisons:
        if c.segment != "all":
            continue
        r = c.result
        tests.add_row(
            c.metric,
            c.variant,
            _interval(Interval(r.difference, r.low, r.high)),
            "-" if r.p_value != r.p_value else f"{r.p_value:.3g}",
            c.test,
            "yes" if c.significant else "no",
        )
    return metrics, tests


def report_png(report: ExperimentReport, path: Path) -> Path:
    """CTR and conversion per user of each variant with their intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from socialrec.figures import save_png

    rows = [m for m in report.metrics if m.segment == "all"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric, label in zip(
        axes, ("ctr", "conversion_per_user"), ("CTR", "conversion per user"), strict=True
    ):
        values = [getattr(m, metric) for m in rows]
        mids = [v.value for v in values]
        errors = [
            [max(v.value - v.low, 0) for v in values],
            [max(v.high - v.value, 0) for v in values],
        ]
        ax.bar([m.variant for m in rows], mids, yerr=errors, capsize=6, color="#4c72b0")
        ax.set_title(f"{label} ({1 - report.alpha:.0%} CI)")
    fig.suptitle(f"Experiment {report.experiment}")
    path = save_png(fig, path)
    plt.close(fig)
    return path


def report(
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.2, help="Test level.")] = 0.05,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for NAME.json and NAME.png [default: <work_dir>/experiments]."
        ),
    ] = None,
) -> None:
    """The live report of experiment NAME from the store's serve log and the snapshot.

    Reads the experiment from <work_dir>/experiments.json and the serves and attributed
    events from the configured store (SOCIALREC_STORE); interactions for retention and the
    profile segments come from the exported snapshot. Prints the variants' metrics and the
    tests against the control, and writes the whole report (every segment) as JSON and a PNG.
    """
    from graph.snapshot import read_snapshot
    from graph.store import StoreUnavailableError
    from serving.experiment_report import build_report, read_log
    from serving.experiments import EXPERIMENTS_FILE, ExperimentRegistry
    from serving.live import LiveGraph
    from serving.profile import ProfileService
    from serving.settings import get_settings
    from serving.stores import open_store

    settings = get_settings()
    try:
        experiment = ExperimentRegistry(settings.work_dir / EXPERIMENTS_FILE).get(name)
    except KeyError as exc:
        raise fail(f"{exc.args[0]} in {settings.work_dir / EXPERIMENTS_FILE}") from exc
    try:
        store = open_store(settings.store, settings)
    except (StoreUnavailableError, ValueError) as exc:
        raise fail(f"cannot open the {settings.store} store: {exc}") from exc
    try:
        log = read_log(store, experiment)
    finally:
        store.close()
    try:
        snapshot = read_snapshot(settings.resolved_snapshot_dir)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    result = build_report(
        experiment, log, ProfileService(LiveGraph(snapshot)), now=int(time.time()), alpha=alpha
    )
    for table in report_tables(result):
        console.print(table)
    console.print(f"{len(log.serves):,} serves. {result.caveat}")
    directory = out or settings.work_dir / "experiments"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(result.to_dict(), indent=2))
    png = report_png(result, directory / f"{name}.png")
    console.print(f"report: {directory / f'{name}.json'}, plot: {png}")


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` group (``simulate``, ``report``) to ``app``."""
    group = typer.Typer(
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        help="A/B experiments: offline replay and live reports.",
    )
    group.command()(simulate)
    group.command()(report)
    app.add_typer(group, name="experiment")
