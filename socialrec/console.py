"""Shared terminal output for CLI commands: one console, row progress bars, failure exits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

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
#: Seconds between plain progress lines when the output is not a terminal.
PLAIN_INTERVAL_S: Final[float] = 10.0


@contextmanager
def row_progress() -> Iterator[Callable[[str, int], None]]:
    """Show one progress bar per table on a terminal; otherwise print plain lines (a table's
    first rows, then every ``PLAIN_INTERVAL_S`` seconds, and each table's total at the end).
    Yields a ``progress(table, rows)`` callback."""
    if not console.is_terminal:
        with _plain_rows() as advance:
            yield advance
        return
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


@contextmanager
def _plain_rows() -> Iterator[Callable[[str, int], None]]:
    started = time.monotonic()
    rows: dict[str, int] = {}
    last = [started - PLAIN_INTERVAL_S]

    def line(table: str, now: float) -> str:
        return f"{table}: {rows[table]:,} rows, {now - started:.0f}s"

    def advance(table: str, count: int) -> None:
        first = table not in rows
        rows[table] = rows.get(table, 0) + count
        now = time.monotonic()
        if first or now - last[0] >= PLAIN_INTERVAL_S:
            last[0] = now
            print(line(table, now), flush=True)

    yield advance
    now = time.monotonic()
    for table in rows:
        print(f"{line(table, now)} (done)", flush=True)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise (code 1)."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)
