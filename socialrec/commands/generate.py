"""CLI command ``generate``: write a synthetic social-commerce world as an input directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialrec.console import console, fail, row_progress

_TABLE_FILES = ("users.csv", "items.csv", "friendships.csv", "interactions.csv")


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the CSV tables and ground truth.")],
    users: Annotated[int, typer.Option(help="Number of users (>= 2).")] = 5000,
    items: Annotated[int, typer.Option(help="Number of items (>= 1).")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (>= 0); same seed, same files.")] = 0,
    communities: Annotated[int, typer.Option(help="Number of user communities.")] = 20,
    interactions_per_user: Annotated[
        float, typer.Option(help="Mean organic engagements per user (>= 1).")
    ] = 20.0,
    social_influence: Annotated[
        float, typer.Option(help="Expected induced purchases per purchase, in [0, 1).")
    ] = 0.4,
    corrupt_fraction: Annotated[
        float, typer.Option(help="Share of bad rows to inject (recorded in ground_truth.json).")
    ] = 0.0,
    force: Annotated[bool, typer.Option(help="Overwrite table files already in OUT_DIR.")] = False,
) -> None:
    """Generate a synthetic world (communities, KOLs, socially influenced purchases).

    The knobs not exposed here keep the defaults documented in graph.synthetic.WorldConfig.
    """
    from graph.synthetic import WorldConfig, generate_world, write_world

    existing = [name for name in _TABLE_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise fail(f"{out_dir} already holds {', '.join(existing)}; pass --force to overwrite")
    try:
        config = WorldConfig(
            num_users=users,
            num_items=items,
            num_communities=communities,
            interactions_per_user=interactions_per_user,
            social_influence=social_influence,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not 0 <= corrupt_fraction <= 0.5:
        raise fail(f"--corrupt-fraction must be in [0, 0.5], got {corrupt_fraction}")
    with row_progress() as progress:
        world = generate_world(config, progress=progress)
        try:
            files = write_world(
                world,
                out_dir,
                corrupt_fraction=corrupt_fraction,
                progress=lambda table, rows: progress(f"write {table}", rows),
            )
        except OSError as exc:
            raise fail(f"cannot write {out_dir}: {exc}") from exc

    stats = world.stats
    table = Table(title=f"Synthetic world (seed {seed}) -> {out_dir}")
    for column in ("table", "rows", "bad rows"):
        table.add_column(column)
    for name, count in files.clean_rows.items():
        table.add_row(name, f"{count:,}", f"{files.corrupt_by_table[name]:,}")
    console.print(table)
    console.print(
        f"purchases: {stats['purchases']:,} ({stats['social_share']:.1%} socially induced); "
        f"friends in the same community: {stats['within_community_friend_share']:.1%}; "
        f"top KOL followers: {stats['max_followers']:,} (median user: "
        f"{stats['median_followers']:.0f})"
    )
    console.print(f"ground truth: {files.ground_truth}")


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to ``app``."""
    app.command("generate")(generate)
