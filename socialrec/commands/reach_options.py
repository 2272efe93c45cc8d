"""Typer options shared by the reach commands (``reach``, ``plan``, ``reach backtest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SnapshotOpt = Annotated[
    Path | None, typer.Option(help="Snapshot directory (default: <work_dir>/snapshot).")
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(help="Checkpoint, needed with --item (default: <work_dir>/model.pt)."),
]
ModelOpt = Annotated[str, typer.Option(help="Diffusion model: ic | lt.")]
ProbabilityOpt = Annotated[
    str,
    typer.Option(
        help="Edge probabilities: auto (calibrated when `socialrec reach backtest` left a model, "
        "else wc) | calibrated | uniform | wc (weighted cascade) | learned."
    ),
]
POpt = Annotated[float, typer.Option("--p", min=0.0, max=1.0, help="Uniform edge probability.")]
WindowOpt = Annotated[
    int, typer.Option("--window", min=1, help="Seconds after u's adoption that count (learned).")
]
ItemOpt = Annotated[
    str | None, typer.Option(help="Target item: adds qualified reach (likely buyers reached).")
]
SeedOpt = Annotated[int | None, typer.Option(min=0, help="Random seed (default: fresh).")]
JobsOpt = Annotated[int | None, typer.Option(min=1, help="Worker threads (default: CPUs).")]
