"""The server as a real process: ``socialrec serve`` logic running uvicorn on loopback."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from socialrec.commands import serve
from tests.api.tiny_model import write_tiny_artifacts
from tests.bolt_server import free_port
from tests.server_process import python_server


@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Path, Path]:
    """(snapshot_dir, checkpoint_path) of the tiny model, written under ``tmp_path``."""
    return write_tiny_artifacts(tmp_path)


def test_serve_runs_a_real_server(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    snapshot_dir, checkpoint_path = artifacts
    port = free_port()
    code = (
        "from pathlib import Path; from socialrec.commands.serve import serve; "
        f"serve(host='127.0.0.1', port={port}, snapshot=Path({str(snapshot_dir)!r}), "
        f"checkpoint=Path({str(checkpoint_path)!r}), threads=1)"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", SOCIALREC_WORK_DIR=str(tmp_path))
    with python_server(code, port, env) as server:
        base = server.base
        response = httpx.get(f"{base}/api/v1/users/u1/recommendations", params={"k": 3})
        assert response.status_code == 200
        assert [i["item_id"] for i in response.json()["items"]] == ["i1", "i3", "i4"]
        assert httpx.get(f"{base}/api/v1/users/nobody/recommendations").status_code == 404
    # uvicorn shuts down gracefully, then re-raises SIGTERM (exit status -15).
    assert "Application shutdown complete" in server.output
    assert server.returncode == -signal.SIGTERM


def test_serve_without_artifacts_exits_1(tmp_path: Path) -> None:
    app = typer.Typer()
    serve.register(app)
    app.command("noop")(lambda: None)  # two commands, so `serve` is addressed by name
    result = CliRunner().invoke(
        app,
        ["serve", "--snapshot", str(tmp_path / "nosnap"), "--checkpoint", str(tmp_path / "x.pt")],
    )
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 1
    assert "nosnap/meta.json does not exist" in output
    assert "x.pt does not exist" in output
