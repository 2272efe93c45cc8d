"""CLI commands that move data into and out of the graph store: ``load`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from graph.store import GraphStore, StoreUnavailableError
from serving.settings import get_settings
from serving.stores import open_store
from socialrec.console import console, fail, row_progress


def _open(kind: str) -> GraphStore:
    try:
        return open_store(kind, get_settings())
    except (ValueError, StoreUnavailableError) as exc:
        raise fail(f"--store {kind}: {exc}") from exc


def load(
    directory: Annotated[Path, typer.Argument(help="Input directory (or the data set's files).")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="dir (CSV/Parquet tables), lastfm (hetrec2011), recbole (.inter/.net)"
        ),
    ] = "dir",
    store: Annotated[str | None, typer.Option(help="sqlite | neo4j (default: settings)")] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where rejects.csv and load_summary.json go.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per write batch (default: settings).")
    ] = None,
    mutual: Annotated[
        bool,
        typer.Option(
            "--mutual",
            help="recbole: the .net file lists mutual friendships (default: directed follows).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="dir: a file that is not a table file is an error, not a warning."
        ),
    ] = False,
) -> None:
    """Validate and load a data set into the graph store; bad rows go to a rejects report."""
    from graph.load import load_tables
    from graph.readers import (
        InputFormatError,
        expected_file_names,
        read_directory,
        read_lastfm,
        read_recbole,
        unexpected_files,
    )

    settings = get_settings()
    if mutual and fmt != "recbole":
        raise fail(f"--mutual applies to --format recbole only, got --format {fmt}")
    try:
        if fmt == "dir":
            sources = read_directory(directory, strict=strict)
            unknown = unexpected_files(directory)
            if unknown:
                names = escape(", ".join(unknown))
                console.print(
                    f"[yellow]warning:[/] ignored {names} in {escape(str(directory))}: not a "
                    f"table file (expected {', '.join(expected_file_names())}); --strict makes "
                    "this an error",
                    highlight=False,
                )
        elif fmt == "lastfm":
            sources = read_lastfm(directory)
        elif fmt == "recbole":
            inter = sorted(directory.glob("*.inter"))
            if len(inter) != 1:
                raise fail(f"--format recbole: expected one *.inter file in {directory}")
            net = inter[0].with_suffix(".net")
            sources = read_recbole(inter[0], net if net.is_file() else None, mutual=mutual)
        else:
            raise fail(f"--format must be dir, lastfm or recbole, got {fmt!r}")
    except InputFormatError as exc:
        raise fail(str(exc)) from exc
    kind = store or settings.store
    reports = report_dir or settings.work_dir / "load_report"
    graph_store = _open(kind)
    try:
        with row_progress() as progress:
            summary = load_tables(
                graph_store,
                sources,
                reports,
                batch_size=batch_size or settings.batch_size,
                progress=progress,
            )
    except StoreUnavailableError as exc:
        raise fail(f"--store {kind}: {exc}") from exc
    finally:
        graph_store.close()

    table = Table(title=f"Loaded {directory} into {kind} in {summary.duration_s:.1f}s")
    for column in ("table", "file", "read", "accepted", "rejected", "ignored columns"):
        table.add_column(column)
    for t in summary.tables:
        table.add_row(
            t.table,
            t.file,
            f"{t.read:,}",
            f"{t.accepted:,}",
            f"{t.rejected:,}",
            ", ".join(t.ignored_columns),
        )
    console.print(table)
    c = summary.counts
    console.print(
        f"store now: {c.users:,} users, {c.items:,} items, {c.friendships:,} friendships, "
        f"{c.interactions:,} interactions"
    )
    console.print(f"rejected rows: {summary.rejected:,} -> {summary.rejects_path}")
    console.print(f"summary: {summary.summary_path}")


def export(
    store: Annotated[str | None, typer.Option(help="sqlite | neo4j (default: settings)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Snapshot directory (default: settings).")
    ] = None,
    compact: Annotated[
        bool,
        typer.Option(
            help="Then drop the change-log writes the snapshot holds (deletions are kept: "
            "replicas on older snapshots still need them)."
        ),
    ] = True,
) -> None:
    """Export the graph store to a versioned snapshot directory."""
    from graph.export import export_snapshot

    settings = get_settings()
    kind = store or settings.store
    target = out or settings.resolved_snapshot_dir
    graph_store = _open(kind)
    try:
        with row_progress() as progress:
            snapshot = export_snapshot(graph_store, target, progress=progress)
        head = int(snapshot.meta["change_seq"])
        removed = graph_store.compact_changes(head) if compact else 0
    except StoreUnavailableError as exc:
        raise fail(f"--store {kind}: {exc}") from exc
    except OSError as exc:
        raise fail(f"--out {target}: {exc}") from exc
    finally:
        graph_store.close()
    counts = snapshot.meta["counts"]
    console.print(
        f"snapshot {target}: {counts['users']:,} users, {counts['items']:,} items, "
        f"{counts['interactions']:,} interactions, {counts['social_edges']:,} social edges "
        f"(fingerprint {snapshot.fingerprint[:12]}, change log head {head})"
    )
    if compact:
        console.print(f"change log: removed {removed:,} rows up to {head} (deletions kept)")


def register(app: typer.Typer) -> None:
    """Add the ``load`` and ``export`` commands to ``app``."""
    app.command("load")(load)
    app.command("export")(export)
