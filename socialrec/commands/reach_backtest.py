"""CLI command ``reach backtest``: every reach model against the store's own adoption log.

Reads the snapshot, runs :func:`graph.reach.backtest.run_backtest`, prints the table and
writes ``reach_backtest.json``, ``reach_backtest.png`` (predicted vs observed, log-log) and
``reach_model.json`` (the calibrated model the API serves) to ``--out``
(default ``<work_dir>/reach``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich import box
from rich.table import Table

from serving.settings import get_settings
from socialrec.commands.reach_options import JobsOpt, SnapshotOpt
from socialrec.console import console, fail
from socialrec.figures import save_png

if TYPE_CHECKING:
    from graph.reach.backtest import BacktestReport
    from graph.reach.calibrate import CalibratedReach

DAY = 86_400


@contextmanager
def backtest_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A ``(stage, done, total)`` callback: a rich status line on a terminal, otherwise a
    plain line per stage and at most one every 10 seconds."""
    if console.is_terminal:
        with console.status("backtest: reading the log...") as status:
            yield lambda stage, done, total: status.update(f"backtest: {stage} {done}/{total}")
        return
    last: dict[str, float] = {}

    def plain(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage not in last or done == total or now - last[stage] >= 10:
            last[stage] = now
            print(f"backtest: {stage} {done}/{total}", flush=True)

    yield plain


def backtest(
    kinds: Annotated[
        str, typer.Option(help="Comma-separated interaction kinds that count as adoption.")
    ] = "purchase",
    horizon: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Days after the first adoption that count (default: the longest of 30, 14, "
            "7, 3, 1 that the log supports).",
        ),
    ] = None,
    holdout: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of the newest items held out.")
    ] = 0.3,
    seeds_per_item: Annotated[
        int, typer.Option(min=1, help="The first k adopters of an item are its seeds.")
    ] = 1,
    simulations: Annotated[int, typer.Option(min=2, help="Monte-Carlo worlds per seed set.")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default: SOCIALREC_REACH_DIR or <work_dir>/reach)."),
    ] = None,
    snapshot: SnapshotOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Backtest the reach models on the log: older items fit, newer ones are predicted."""
    from graph.reach.backtest import run_backtest
    from graph.reach.calibrate import UnusableLogError
    from graph.snapshot import SnapshotError, read_snapshot

    settings = get_settings().with_overrides(snapshot_dir=snapshot)
    try:
        snap = read_snapshot(settings.resolved_snapshot_dir)
    except SnapshotError as exc:
        raise fail(f"--snapshot: {exc}. Run `socialrec export` first.") from exc
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()]
    try:
        with backtest_progress() as progress:
            report, model = run_backtest(
                snap,
                kinds=kind_list,
                horizon_s=None if horizon is None else round(horizon * DAY),
                holdout=holdout,
                seeds_per_item=seeds_per_item,
                simulations=simulations,
                seed=seed,
                jobs=jobs,
                progress=progress,
            )
    except UnusableLogError as exc:
        raise fail(f"{exc}; reach falls back to weighted cascade (calibrated: false)") from exc
    except ValueError as exc:
        raise fail(str(exc)) from exc
    print_report(report)
    write_backtest(report, model, out or settings.resolved_reach_dir)


def write_backtest(report: BacktestReport, model: CalibratedReach, directory: Path) -> None:
    """Write the report, its plot and the model to serve into ``directory`` and say where."""
    from graph.reach.backtest import PLOT_FILE, save_backtest

    try:
        report_path, model_path = save_backtest(report, model, directory)
        plot_path = save_backtest_plot(report, directory / PLOT_FILE)
    except OSError as exc:
        raise fail(f"--out {directory}: {exc}") from exc
    console.print(f"report: {report_path}\nplot: {plot_path}\nmodel: {model_path}")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_report(report: BacktestReport) -> None:
    """The backtest table, the split and any statement where the calibrated model loses."""
    counts, period = report.counts, report.period
    days = report.options["horizon_s"] / DAY
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"Reach backtest: {counts['held_out']} held-out items, {days:g}-day horizon, "
        f"{report.options['seeds_per_item']} seed(s) each",
        caption="rho: Spearman; MdALE: median |log(pred / obs)|; cov50/90: interval coverage; "
        "pred / obs: mean predicted (expected) and observed adopters, seeds included",
    )
    table.add_column("model", no_wrap=True, min_width=19)
    for col in ("rho", "MAE", "MdALE", "cov50", "cov90", "pred", "obs"):
        table.add_column(col, justify="right")
    for s in report.scores:
        table.add_row(
            s.model,
            _num(s.spearman, 2),
            _num(s.mae, 2),
            _num(s.median_abs_log_error, 2),
            _num(s.coverage50, 2),
            _num(s.coverage90, 2),
            _num(s.mean_predicted, 2),
            _num(s.mean_observed, 2),
        )
    console.print(table)
    stamp = "%Y-%m-%d"
    console.print(
        f"fit {time.strftime(stamp, time.gmtime(period['fit_start']))} .. "
        f"{time.strftime(stamp, time.gmtime(period['cutoff']))} "
        f"({counts['fit_adoptions']:,} adoptions), held out from the cutoff to "
        f"{time.strftime(stamp, time.gmtime(period['end']))}; {counts['censored']:,} newer "
        f"items not evaluated (horizon past the log's end), {counts['untimed']:,} untimed "
        "adoptions left out"
    )
    c, ci = report.calibrated, report.score("calibrated").spearman_ci
    console.print(
        "calibrated: Spearman 95% CI "
        + ("-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]")
        + f", window {c['window_s'] / DAY:g} d, smoothing {c['smoothing']:g}, prior "
        f"{c['prior']:.3g}, scale {c['scale']:.3g}, background weight "
        f"{c['background_weight']:.3g}, audience weight {c['audience_weight']:.3g}, "
        f"intercept {c['intercept']:.3g}"
    )
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")


def save_backtest_plot(report: BacktestReport, path: Path) -> Path:
    """Predicted vs observed adopters (log-log, diagonal): the calibrated model's medians with
    their 90% intervals, and weighted cascade's means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = np.array([r["observed"] for r in report.items], dtype=np.float64)
    jitter = obs * np.exp(np.random.default_rng(0).uniform(-0.06, 0.06, obs.shape[0]))
    med = np.array([r["predicted"]["calibrated"] for r in report.items])
    lo = np.array([r["calibrated_interval90"][0] for r in report.items])
    hi = np.array([r["calibrated_interval90"][1] for r in report.items])
    wc = np.array([r["predicted"]["weighted_cascade"] for r in report.items])
    fig, ax = plt.subplots(figsize=(6.5, 6), dpi=120)
    try:
        ax.errorbar(
            jitter,
            med,
            yerr=[med - lo, hi - med],
            fmt="o",
            ms=2.5,
            alpha=0.35,
            lw=0.6,
            label="calibrated (median, 90% interval)",
        )
        ax.scatter(jitter, wc, s=5, alpha=0.35, color="tab:red", label="weighted cascade (mean)")
        top = max(float(obs.max()), float(hi.max()), float(wc.max()), 2.0) * 1.2
        ax.plot([0.8, top], [0.8, top], color="black", lw=1, label="predicted = observed")
        ax.set(xscale="log", yscale="log", xlim=(0.8, top), ylim=(0.8, top))
        cal = report.score("calibrated")
        ax.set_title(
            f"Reach backtest: {obs.shape[0]} held-out items, "
            f"{report.options['horizon_s'] / DAY:g}-day horizon (x jittered)\n"
            f"calibrated Spearman {_num(cal.spearman, 2)}, 90% coverage {cal.coverage90:.2f}",
            fontsize=10,
        )
        ax.set_xlabel("observed adopters (seeds included)")
        ax.set_ylabel("predicted adopters")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
        return save_png(fig, path)
    finally:
        plt.close(fig)
