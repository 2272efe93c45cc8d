"""CLI command ``demo``: the whole pipeline on a synthetic world, then the API.

generate -> load into the configured store -> export a snapshot -> train LightGCN -> backtest
and calibrate reach on the world's purchase log -> serve. Each step calls the same library
functions as its own command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from serving.settings import Settings, get_settings
from socialrec.console import console, fail, row_progress

if TYPE_CHECKING:
    from graph.snapshot import Snapshot

STEPS: Final[int] = 6


def _step(number: int, title: str) -> None:
    console.rule(f"[bold]{number}/{STEPS} {title}")


def _generate(world_dir: Path, users: int, items: int, seed: int) -> None:
    from graph.synthetic import WorldConfig, generate_world, write_world

    try:
        config = WorldConfig(num_users=users, num_items=items, seed=seed)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    with row_progress() as progress:
        world = generate_world(config, progress=progress)
        write_world(world, world_dir, progress=lambda table, rows: progress(f"write {table}", rows))
    stats = world.stats
    console.print(
        f"{world.num_users:,} users, {world.num_items:,} items, {world.kol_users.size} KOLs, "
        f"{stats['purchases']:,} purchases ({stats['social_share']:.0%} socially induced) "
        f"-> {world_dir}"
    )


def _load_and_export(settings: Settings, world_dir: Path) -> Snapshot:
    from graph.export import export_snapshot
    from graph.load import load_directory
    from graph.store import StoreUnavailableError
    from serving.stores import open_store

    if settings.store == "sqlite":
        # The demo's own database: start from an empty file so the snapshot is exactly this world.
        settings.resolved_sqlite_path.unlink(missing_ok=True)
    try:
        store = open_store(settings.store, settings)
    except (ValueError, StoreUnavailableError) as exc:
        raise fail(f"store {settings.store}: {exc}") from exc
    try:
        with row_progress() as progress:
            summary = load_directory(
                store,
                world_dir,
                settings.work_dir / "load_report",
                batch_size=settings.batch_size,
                progress=progress,
            )
        console.print(
            f"loaded into {settings.store} in {summary.duration_s:.1f}s; "
            f"rejected rows: {summary.rejected:,} -> {summary.rejects_path}"
        )
        _step(3, "export snapshot")
        with row_progress() as progress:
            snapshot = export_snapshot(store, settings.resolved_snapshot_dir, progress=progress)
    except StoreUnavailableError as exc:
        raise fail(f"store {settings.store}: {exc}") from exc
    finally:
        store.close()
    console.print(
        f"snapshot {settings.resolved_snapshot_dir} (fingerprint {snapshot.fingerprint[:12]})"
    )
    return snapshot


def _backtest_reach(settings: Settings, snapshot: Snapshot, seed: int) -> None:
    """``socialrec reach backtest`` with its defaults; an unusable log is reported, not fatal
    (reach answers then fall back to weighted cascade and say why)."""
    from graph.reach.backtest import run_backtest
    from graph.reach.calibrate import UnusableLogError
    from socialrec.commands.reach_backtest import backtest_progress, print_report, write_backtest

    try:
        with backtest_progress() as progress:
            report, model = run_backtest(snapshot, seed=seed, progress=progress)
    except UnusableLogError as exc:
        console.print(f"{exc}: reach answers use weighted cascade (calibrated: false)")
        return
    print_report(report)
    write_backtest(report, model, settings.resolved_reach_dir)


def example_user(snapshot: Snapshot, min_items: int = 5) -> str:
    """A real user with at least ``min_items`` distinct items (else the most active one)."""
    import numpy as np

    pairs = np.unique(snapshot.inter_user * snapshot.num_items + snapshot.inter_item)
    distinct = np.bincount(pairs // snapshot.num_items, minlength=snapshot.num_users)
    active = np.flatnonzero(distinct >= min_items)
    index = int(active[0]) if active.size else int(distinct.argmax())
    return snapshot.user_ids[index]


def demo(
    users: Annotated[int, typer.Option(min=2, help="Users in the synthetic world.")] = 5000,
    items: Annotated[int, typer.Option(min=1, help="Items in the synthetic world.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the world and of training.")] = 0,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Maximum epochs [default: TrainConfig, early-stopped]."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address [default: settings.host].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [default: settings.port].")
    ] = None,
    serve: Annotated[bool, typer.Option(help="Serve the API when the model is trained.")] = True,
) -> None:
    """Generate a synthetic world, load it, export, train LightGCN and serve the API.

    Files go to the work directory (SOCIALREC_WORK_DIR, default runs/demo); the store is
    SOCIALREC_STORE (default: the embedded SQLite file).
    """
    from gnn.config import TrainConfig
    from socialrec.commands.serve import run_server
    from socialrec.commands.train import fit_snapshot

    settings = get_settings().with_overrides(host=host, port=port)
    world_dir = settings.work_dir / "world"

    _step(1, "generate a synthetic world")
    _generate(world_dir, users, items, seed)
    _step(2, f"validate and load into the {settings.store} store")
    snapshot = _load_and_export(settings, world_dir)

    _step(4, "train LightGCN")
    config = TrainConfig(seed=seed) if epochs is None else TrainConfig(epochs=epochs, seed=seed)
    fit_snapshot(snapshot, config, settings.resolved_checkpoint_path)

    _step(5, "backtest and calibrate reach")
    _backtest_reach(settings, snapshot, seed)

    user = example_user(snapshot)
    base = f"http://{settings.host}:{settings.port}"
    if serve:
        _step(6, "serve the API")
        _print_tries(base, user, "Try:")
        run_server(settings)
    else:
        _step(6, "done (--no-serve): serve the API with")
        console.print(
            f"  SOCIALREC_WORK_DIR={settings.work_dir} socialrec serve "
            f"--host {settings.host} --port {settings.port}",
            soft_wrap=True,
            markup=False,
        )
        _print_tries(base, user, "Then try:")


def _print_tries(base: str, user: str, header: str) -> None:
    console.print(header, style="bold")
    console.print(f"  curl '{base}/api/v1/users/{user}/recommendations?k=10'", soft_wrap=True)
    console.print(f"  curl '{base}/health'   (docs: {base}/docs)", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command()(demo)
