"""Shared terminal output for CLI commands: one console, row progress bars, failure exits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

console = Console()


@contextmanager
def row_progress() -> Iterator[Callable[[str, int], None]]:
    """Show one progress line per table; yields a ``progress(table, rows)`` callback."""
    tasks: dict[str, TaskID] = {}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<13}"),
        BarColumn(),
        TextColumn("{task.completed:>12,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def advance(table: str, rows: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=None)
            progress.advance(tasks[table], rows)

        yield advance


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise (code 1)."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)
