"""CLI command ``serve``: run the HTTP API with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.settings import Settings, get_settings
from socialrec.console import console, fail


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: settings.host].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [default: settings.port].")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot directory [default: <work_dir>/snapshot].")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file [default: <work_dir>/model.pt].")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="torch threads [default: settings.serving_threads].")
    ] = None,
) -> None:
    """Serve recommendations over HTTP (docs at /docs, status at /health)."""
    settings = get_settings().with_overrides(
        host=host,
        port=port,
        snapshot_dir=snapshot,
        checkpoint_path=checkpoint,
        serving_threads=threads,
    )
    missing = [
        f"{what} {path} does not exist"
        for what, path in (
            ("snapshot", settings.resolved_snapshot_dir / "meta.json"),
            ("checkpoint", settings.resolved_checkpoint_path),
        )
        if not path.exists()
    ]
    if missing:
        raise fail(
            f"{'; '.join(missing)}. Export a snapshot and train a model first, "
            "or pass --snapshot / --checkpoint."
        )
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Serve the API described by ``settings`` until interrupted (one uvicorn worker).

    Logs are JSON lines on stderr at ``settings.log_level`` (:mod:`api.logging_config`);
    uvicorn's own access log is off: the app logs each request by route template instead.
    """
    import uvicorn

    from api.app import create_app
    from api.logging_config import configure_logging

    configure_logging(settings.log_level)
    console.print(f"serving on http://{settings.host}:{settings.port} (docs /docs, Ctrl-C stops)")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
