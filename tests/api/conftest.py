"""Fixtures of the API tests: the tiny model of tests/api/tiny_model.py written to disk, and
settings serving it."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import Settings
from tests.api.tiny_model import write_tiny_artifacts


@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Path, Path]:
    """(snapshot_dir, checkpoint_path) of the tiny model, written under ``tmp_path``."""
    return write_tiny_artifacts(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, artifacts: tuple[Path, Path]) -> Settings:
    snapshot_dir, checkpoint_path = artifacts
    return Settings(
        _env_file=None,  # type: ignore[call-arg, unused-ignore]
        work_dir=tmp_path,
        snapshot_dir=snapshot_dir,
        checkpoint_path=checkpoint_path,
        max_k=4,
        max_body_bytes=64,
    )
