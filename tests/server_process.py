"""Run the API in a real Python subprocess on loopback for the duration of a test."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ServerProcess:
    """A running server's base URL; ``output`` and ``returncode`` are set once it has stopped."""

    base: str
    output: str = ""
    returncode: int | None = None


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Read the server's output as it comes, so a chatty server never blocks on a full pipe."""
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    return reader


def _wait_for_health(
    base: str, proc: subprocess.Popen[str], timeout_s: float, output: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{output()}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not answer /health within {timeout_s}s")


@contextmanager
def python_server(
    code: str, port: int, env: dict[str, str], timeout_s: float = 60
) -> Iterator[ServerProcess]:
    """Run ``python -c code`` (which must serve on ``port``), wait for ``/health``, and on
    exit stop it with SIGTERM (SIGKILL after 15 s), keeping its output."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}")
    lines: list[str] = []
    reader = _drain(proc, lines)

    def output() -> str:
        reader.join(timeout=5)
        return "".join(lines)

    try:
        _wait_for_health(server.base, proc, timeout_s, output)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.output, server.returncode = output(), proc.returncode
        if proc.stdout is not None:
            proc.stdout.close()
