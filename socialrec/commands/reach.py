"""CLI commands ``reach`` and ``plan``: influencer reach estimates and campaign plans.

Both read the snapshot (and, for a target item, the checkpoint) named by the settings or the
options, call :class:`serving.reach.ReachService` (the same code as the API) and print
rich tables. ``plan --plot`` saves a PNG of reach vs number of influencers (the planned order
against the top-followers order, both estimated on the same simulated worlds).
``reach backtest`` (:mod:`socialrec.commands.reach_backtest`) checks the models against the log.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from serving.settings import get_settings
from socialrec.commands.reach_options import (
    CheckpointOpt,
    ItemOpt,
    JobsOpt,
    ModelOpt,
    POpt,
    ProbabilityOpt,
    SeedOpt,
    SnapshotOpt,
    WindowOpt,
)
from socialrec.console import console, fail
from socialrec.figures import save_png

if TYPE_CHECKING:
    from graph.reach.estimate import Estimate
    from serving.reach import ReachService
    from serving.served_graph import ProbabilitySpec

PROBABILITY_ALIASES = {
    "calibrated": "calibrated",
    "uniform": "uniform",
    "wc": "weighted_cascade",
    "weighted_cascade": "weighted_cascade",
    "learned": "learned",
}


def _split(value: str | None, option: str) -> list[str] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise fail(f"{option} is empty: give comma-separated user ids, e.g. {option} a,b,c")
    return parts


def _service(
    snapshot: Path | None, checkpoint: Path | None, item: str | None, jobs: int | None
) -> ReachService:
    from gnn.checkpoint import CheckpointError, load_checkpoint
    from graph.snapshot import SnapshotError, read_snapshot
    from serving.reach import ReachService
    from serving.reach_model import load_reach_model

    settings = get_settings().with_overrides(snapshot_dir=snapshot, checkpoint_path=checkpoint)
    try:
        snap = read_snapshot(settings.resolved_snapshot_dir)
    except SnapshotError as exc:
        raise fail(f"--snapshot: {exc}. Run `socialrec export` first.") from exc
    ckpt = None
    if item is not None:
        try:
            ckpt = load_checkpoint(settings.resolved_checkpoint_path)
        except CheckpointError as exc:
            raise fail(f"--checkpoint (needed by --item): {exc}") from exc
    return ReachService(
        snap, ckpt, reach_model=load_reach_model(settings.resolved_reach_dir), jobs=jobs
    )


def _spec(
    service: ReachService, model: str, probability: str, p: float, window: int
) -> ProbabilitySpec:
    from serving.served_graph import ProbabilitySpec

    if model not in ("ic", "lt"):
        raise fail(f"--model must be ic or lt, got {model!r}")
    if probability == "auto":
        return service.default_probability()
    kind = PROBABILITY_ALIASES.get(probability)
    if kind is None:
        raise fail(
            f"--probability must be one of auto, {', '.join(PROBABILITY_ALIASES)}; "
            f"got {probability!r}"
        )
    if kind == "calibrated" and service.reach_model.calibrated is None:
        raise fail(f"--probability calibrated: {service.reach_model.reason}")
    return ProbabilitySpec(kind=kind, p=p, window_s=window)  # type: ignore[arg-type]


def _show_model(
    service: ReachService, spec: ProbabilitySpec, model: str, num_seeds: int | None
) -> None:
    """One line naming the reach model (calibrated or not, and why), then any warnings."""
    info = service.reach_model.info(
        spec.kind, model=model, num_seeds=num_seeds, p=spec.p, window_s=spec.window_s
    )
    if info.calibrated and info.backtest is not None and info.fit_period is not None:
        figures = info.backtest
        console.print(
            f"reach model: calibrated on {info.fit_period[0]}..{info.fit_period[1]}, "
            f"{info.horizon_days:g}-day horizon; last backtest: Spearman "
            f"{figures.get('spearman') or float('nan'):.2f}, 90% interval coverage "
            f"{figures.get('coverage90', float('nan')):.2f}"
        )
    else:
        console.print(f"reach model: {info.name} (calibrated: false: {info.reason})")
    for warning in info.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")


def _predicted_row(
    table: Table,
    label: str,
    service: ReachService,
    spec: ProbabilitySpec,
    model: str,
    est: Estimate,
    seeds: list[str],
) -> None:
    """A table row of calibrated adopters with their 90% predictive interval (if any)."""
    pred = service.reach_model.predict(spec.kind, model, est, seeds)
    if pred is not None:
        table.add_row(
            label, f"{pred.expected:,.2f}", "", f"[{pred.low90:,.0f}, {pred.high90:,.0f}]"
        )


def _fmt(est: Estimate) -> tuple[str, str, str]:
    return f"{est.mean:,.2f}", f"{est.std_error:,.2f}", f"[{est.ci_low:,.2f}, {est.ci_high:,.2f}]"


def read_costs(path: Path) -> dict[str, float]:
    """``user_id,cost`` rows of a CSV file (header required) as a dict.

    Raises:
        ValueError: naming the file and line of a missing column, bad or duplicate row.
    """
    costs: dict[str, float] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "user_id" not in fields or "cost" not in fields:
            raise ValueError(f"{path}: needs a header with user_id and cost, got {fields}")
        for row in reader:
            line = reader.line_num
            user = (row["user_id"] or "").strip()
            try:
                cost = float(row["cost"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: cost {row['cost']!r} is not a number") from None
            if not user:
                raise ValueError(f"{path}:{line}: empty user_id")
            if user in costs:
                raise ValueError(f"{path}:{line}: user_id {user!r} appears twice")
            if not cost > 0 or cost == float("inf"):
                raise ValueError(f"{path}:{line}: cost of {user!r} must be > 0, got {cost!r}")
            costs[user] = cost
    if not costs:
        raise ValueError(f"{path}: no rows")
    return costs


def reach(
    ctx: typer.Context,
    seeds: Annotated[
        str | None, typer.Option(help="Comma-separated seed users, e.g. a,b,c.")
    ] = None,
    model: ModelOpt = "ic",
    probability: ProbabilityOpt = "auto",
    p: POpt = 0.05,
    window: WindowOpt = 7 * 24 * 3600,
    simulations: Annotated[int, typer.Option(min=2, help="Monte-Carlo worlds.")] = 1000,
    item: ItemOpt = None,
    seed: SeedOpt = None,
    snapshot: SnapshotOpt = None,
    checkpoint: CheckpointOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Estimate how many users the seeds reach (seeds included): CI, by hop, per seed, overlaps.

    `socialrec reach backtest` checks the reach models against the store's own log.
    """
    from serving.served_graph import UnknownEntityError

    if ctx.invoked_subcommand is not None:
        return
    seed_list = _split(seeds, "--seeds")
    if seed_list is None:
        raise fail("give --seeds a,b,c (or run `socialrec reach backtest`)")
    settings = get_settings()
    if simulations > settings.max_simulations:
        raise fail(f"--simulations must be at most {settings.max_simulations}, got {simulations}")
    service = _service(snapshot, checkpoint, item, jobs)
    spec = _spec(service, model, probability, p, window)
    try:
        with console.status(f"simulating {simulations} cascades..."):
            est = service.estimate(
                seed_list,
                model=model,  # type: ignore[arg-type]
                probability=spec,
                simulations=simulations,
                seed=seed,
                item_id=item,
            )
    except (UnknownEntityError, ValueError) as exc:
        raise fail(str(exc)) from exc

    count = f"{len(est.seeds)} seed{'s' if len(est.seeds) > 1 else ''}"
    _show_model(service, spec, model, len(est.seeds))
    summary = Table(title=f"Reach of {count} ({model.upper()}, {spec.kind})")
    for col in ("", "mean", "std error", "95% CI"):
        summary.add_column(col, justify="right" if col else "left")
    summary.add_row("reach (seeds included)", *_fmt(est.reach))
    _predicted_row(
        summary, "calibrated adopters (90% interval)", service, spec, model, est.reach, est.seeds
    )
    summary.add_row("audience beyond seeds", f"{est.reach.mean - len(est.seeds):,.2f}", "", "")
    if est.qualified is not None:
        summary.add_row(f"qualified reach ({item})", *_fmt(est.qualified))
    if est.shared is not None and len(est.seeds) > 1:
        summary.add_row("reached by 2+ seeds", *_fmt(est.shared))
    console.print(summary)
    console.print(f"simulations {est.simulations}, seed {est.seed}")

    hops = Table(title="By hop (expected users first reached)")
    hops.add_column("hop", justify="right")
    hops.add_column("users", justify="right")
    for h, value in enumerate(est.by_hop):
        hops.add_row(str(h), f"{value:,.2f}")
    console.print(hops)

    if est.per_seed is not None and est.overlap is not None:
        per = Table(title="Per seed")
        for col in ("seed", "alone", "alone 95% CI", "marginal", "marginal 95% CI"):
            per.add_column(col, justify="left" if col == "seed" else "right")
        for contribution in est.per_seed:
            a, m = _fmt(contribution.alone), _fmt(contribution.marginal)
            per.add_row(contribution.seed, a[0], a[2], m[0], m[2])
        console.print(per)
        if len(est.seeds) > 1:
            overlap = Table(title="Overlap (expected users reached by both)")
            overlap.add_column("")
            for user in est.seeds:
                overlap.add_column(user, justify="right")
            for user, row in zip(est.seeds, est.overlap, strict=True):
                overlap.add_row(user, *(f"{v:,.2f}" for v in row))
            console.print(overlap)


def plan(
    k: Annotated[int | None, typer.Option(min=1, help="Number of influencers.")] = None,
    budget: Annotated[
        float | None, typer.Option(min=0.0, help="Total budget (needs --costs).")
    ] = None,
    costs: Annotated[
        Path | None, typer.Option(help="CSV with user_id,cost (budget mode; default candidates).")
    ] = None,
    candidates: Annotated[
        str | None, typer.Option(help="Comma-separated candidates (default: most followed).")
    ] = None,
    model: ModelOpt = "ic",
    probability: ProbabilityOpt = "auto",
    p: POpt = 0.05,
    window: WindowOpt = 7 * 24 * 3600,
    simulations: Annotated[int, typer.Option(min=2, help="Monte-Carlo worlds.")] = 1000,
    item: ItemOpt = None,
    pool: Annotated[int, typer.Option(min=1, help="Default candidate pool size.")] = 1000,
    epsilon: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="IMM approximation slack.")
    ] = 0.5,
    seed: SeedOpt = None,
    plot: Annotated[
        Path | None, typer.Option(help="Save a PNG of reach vs number of influencers.")
    ] = None,
    snapshot: SnapshotOpt = None,
    checkpoint: CheckpointOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Choose influencers for --k or --budget (IMM / CELF) and compare with top followers."""
    from serving.served_graph import UnknownEntityError

    if (k is None) == (budget is None):
        raise fail("give exactly one of --k or --budget")
    if budget is not None and costs is None:
        raise fail("--budget needs --costs FILE.csv (columns user_id,cost)")
    if plot is not None and plot.suffix.lower() != ".png":
        raise fail(f"--plot must name a .png file, got {plot}")
    cost_map = None
    if costs is not None:
        try:
            cost_map = read_costs(costs)
        except (OSError, ValueError) as exc:
            raise fail(f"--costs: {exc}") from exc
    service = _service(snapshot, checkpoint, item, jobs)
    spec = _spec(service, model, probability, p, window)
    try:
        with console.status("planning (RR sets, greedy, Monte-Carlo check)..."):
            result = service.plan(
                k=k,
                budget=budget,
                costs=cost_map,
                candidates=_split(candidates, "--candidates"),
                model=model,  # type: ignore[arg-type]
                probability=spec,
                simulations=simulations,
                seed=seed,
                item_id=item,
                pool_size=pool,
                epsilon=epsilon,
            )
    except (UnknownEntityError, ValueError) as exc:
        raise fail(str(exc)) from exc

    _show_model(service, spec, model, k)
    unit = "qualified reach" if result.objective == "qualified" else "reach"
    chosen = Table(title=f"Chosen influencers ({result.method}, objective: {unit})")
    chosen.add_column("#", justify="right")
    chosen.add_column("user")
    chosen.add_column("marginal gain", justify="right")
    chosen.add_column("cumulative", justify="right")
    if budget is not None:
        chosen.add_column("cost", justify="right")
    total = 0.0
    for i, c in enumerate(result.chosen, 1):
        total += c.gain
        row = [str(i), c.seed, f"{c.gain:,.2f}", f"{total:,.2f}"]
        if budget is not None:
            row.append(f"{c.cost:,.2f}")
        chosen.add_row(*row)
    console.print(chosen)
    compare = Table(title="Plan vs top-followers baseline (same simulated worlds)")
    for col in ("", "mean", "std error", "95% CI"):
        compare.add_column(col, justify="right" if col else "left")
    compare.add_row("plan reach", *_fmt(result.estimate.reach))
    compare.add_row("baseline reach", *_fmt(result.baseline_estimate.reach))
    chosen_ids = [c.seed for c in result.chosen]
    for label, estimate, seeds in (
        ("plan calibrated adopters", result.estimate, chosen_ids),
        ("baseline calibrated adopters", result.baseline_estimate, result.baseline),
    ):
        _predicted_row(compare, label, service, spec, model, estimate.reach, seeds)
    if result.estimate.qualified is not None and result.baseline_estimate.qualified is not None:
        compare.add_row("plan qualified", *_fmt(result.estimate.qualified))
        compare.add_row("baseline qualified", *_fmt(result.baseline_estimate.qualified))
    console.print(compare)
    console.print(
        f"ratio {result.ratio:.3f} ({unit}), guarantee {result.guarantee:.3f}, "
        f"RR sets {result.rr_sets:,}, seed {result.seed}"
        + ("" if result.total_cost is None else f", total cost {result.total_cost:,.2f}")
    )
    console.print(f"baseline: {', '.join(result.baseline)}")
    if plot is not None:
        with console.status("estimating prefixes for the plot..."):
            curves = {
                "planned": service.prefix_curve(
                    [c.seed for c in result.chosen],
                    model=model,  # type: ignore[arg-type]
                    probability=spec,
                    simulations=max(2, min(simulations, 500)),
                    seed=result.seed,
                    item_id=item,
                ),
                "top followers": service.prefix_curve(
                    result.baseline,
                    model=model,  # type: ignore[arg-type]
                    probability=spec,
                    simulations=max(2, min(simulations, 500)),
                    seed=result.seed,
                    item_id=item,
                ),
            }
        try:
            save_reach_plot(curves, plot, ylabel=unit)
        except OSError as exc:
            raise fail(f"--plot {plot}: {exc}") from exc
        console.print(f"plot: {plot}")


def save_reach_plot(
    curves: Mapping[str, Sequence[Estimate]], path: Path, *, ylabel: str = "reach"
) -> Path:
    """Save estimates vs number of influencers (mean and 95% band per curve) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        for label, points in curves.items():
            x = list(range(1, len(points) + 1))
            ax.plot(x, [e.mean for e in points], marker="o", ms=3, label=label)
            ax.fill_between(x, [e.ci_low for e in points], [e.ci_high for e in points], alpha=0.2)
        ax.set_xlabel("number of influencers")
        ax.set_ylabel(f"expected {ylabel} (seeds included)")
        ax.set_title(f"{ylabel.capitalize()} vs number of influencers")
        ax.grid(alpha=0.3)
        ax.legend()
        return save_png(fig, path)
    finally:
        plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add ``reach`` (with its ``backtest`` subcommand) and ``plan`` to ``app``."""
    from socialrec.commands.reach_backtest import backtest

    group = typer.Typer(no_args_is_help=False, pretty_exceptions_enable=False)
    group.callback(invoke_without_command=True)(reach)
    group.command()(backtest)
    app.add_typer(group, name="reach")
    app.command()(plan)
