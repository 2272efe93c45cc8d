"""The ``socialrec`` command line: thin commands over the library, one module per area."""

from __future__ import annotations

import typer

from gnn.threads import passive_openmp

# Before torch loads: idle OpenMP threads sleep instead of spinning, which keeps training from
# collapsing when another process shares the cores (docs/models.md). An explicit setting wins.
passive_openmp()

from socialrec.commands import (  # noqa: E402  (after the OpenMP policy is set)
    campaign,
    demo,
    experiment,
    generate,
    ingest,
    reach,
    serve,
    train,
    tune,
)

app = typer.Typer(
    name="socialrec",
    help="Graph-based social-commerce recommender: generate, load, export, train, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain text: help texts say "[default: ...]" and "<work_dir>", which markup would eat.
    rich_markup_mode=None,
)
for area in (generate, ingest, train, tune, serve, demo, reach, experiment, campaign):
    area.register(app)

if __name__ == "__main__":
    app()
