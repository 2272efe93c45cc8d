"""The command line tells the truth: help keeps its defaults, ``demo --no-serve`` says how to
serve instead of pointing at a server that is not running (issue 20.12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import REPO_ROOT


def _socialrec(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "socialrec.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return " ".join(done.stdout.split())  # help wraps long lines


@pytest.mark.parametrize(
    ("command", "texts"),
    [
        ("serve", ["Bind address [default: settings.host].", "Port [default: settings.port]."]),
        ("demo", ["Maximum epochs [default: TrainConfig, early-stopped]."]),
        ("tune", ["Output directory [default: <work_dir>/tune-<model>]."]),
    ],
)
def test_help_keeps_its_defaults(command: str, texts: list[str]) -> None:
    shown = _socialrec(command, "--help")
    for text in texts:
        assert text in shown


def test_demo_without_serving_says_how_to_serve(tmp_path: Path) -> None:
    env = dict(os.environ, SOCIALREC_WORK_DIR=str(tmp_path), OMP_NUM_THREADS="1", COLUMNS="200")
    shown = _socialrec("demo", "--users", "400", "--items", "150", "--no-serve", env=env)
    assert f"SOCIALREC_WORK_DIR={tmp_path} socialrec serve --host" in shown
    assert "Then try:" in shown and "serve the API ... Try" not in shown
