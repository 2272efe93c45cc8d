"""The server as a real process: ``socialrec serve`` logic running uvicorn on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from socialrec.commands import serve

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_health(base: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, _ = proc.communicate()
            pytest.fail(f"server exited with {proc.returncode}:\n{out}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not answer /health within {timeout_s}s")


def test_serve_runs_a_real_server(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    snapshot_dir, checkpoint_path = artifacts
    port = _free_port()
    code = (
        "from pathlib import Path; from socialrec.commands.serve import serve; "
        f"serve(host='127.0.0.1', port={port}, snapshot=Path({str(snapshot_dir)!r}), "
        f"checkpoint=Path({str(checkpoint_path)!r}), threads=1)"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", SOCIALREC_WORK_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base, proc, timeout_s=60)
        response = httpx.get(f"{base}/api/v1/users/u1/recommendations", params={"k": 3})
        assert response.status_code == 200
        assert [i["item_id"] for i in response.json()["items"]] == ["i1", "i3", "i4"]
        assert httpx.get(f"{base}/api/v1/users/nobody/recommendations").status_code == 404
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    # uvicorn shuts down gracefully, then re-raises SIGTERM (exit status -15).
    assert "Application shutdown complete" in output
    assert proc.returncode == -signal.SIGTERM


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
