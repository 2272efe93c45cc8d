"""CLI commands ``experiment simulate`` (offline replay on a synthetic world) and
``experiment report NAME`` (the live report from the store: table + PNG)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from socialrec.console import console, fail


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


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` group (``simulate``, ``report``) to ``app``."""
    group = typer.Typer(
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        help="A/B experiments: offline replay and live reports.",
    )
    group.command()(simulate)
    app.add_typer(group, name="experiment")
