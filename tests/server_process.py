"""Run the API in a real Python subprocess on loopback for the duration of a test."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


class ServerStartError(RuntimeError):
    """The server exited, or did not answer ``/health`` in time; the message holds its output."""


@dataclass
class ServerProcess:
    """A running server's base URL and process id; ``output`` (unless it went to a log file)
    and ``returncode`` are set once it has stopped."""

    base: str
    pid: int = 0
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
            raise ServerStartError(f"server exited with {proc.returncode}:\n{output()}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ServerStartError(f"server did not answer /health within {timeout_s}s:\n{output()}")


@contextmanager
def server_process(
    argv: Sequence[str],
    port: int,
    env: dict[str, str],
    timeout_s: float = 60,
    log: Path | None = None,
) -> Iterator[ServerProcess]:
    """Run ``argv`` (which must serve on loopback ``port``) from the repository root, wait for
    ``/health``, and on exit stop it with SIGTERM (SIGKILL after 15 s).

    The server's output is kept in :attr:`ServerProcess.output`, or appended to ``log`` when
    given (long runs: the server logs a line per request).

    Raises:
        ServerStartError: if the server exits or does not answer ``/health`` in ``timeout_s``.
    """
    with contextlib.ExitStack() as files:
        sink = files.enter_context(log.open("a", encoding="utf-8")) if log else subprocess.PIPE
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", proc.pid)
    lines: list[str] = []
    reader = _drain(proc, lines) if log is None else None

    def output() -> str:
        if reader is None:
            return f"(see {log})"
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


@contextmanager
def python_server(
    code: str, port: int, env: dict[str, str], timeout_s: float = 60
) -> Iterator[ServerProcess]:
    """:func:`server_process` of ``python -c code``."""
    with server_process([sys.executable, "-c", code], port, env, timeout_s) as server:
        yield server
