"""Fixtures for graph tests: the store contract's backends (the ``store`` fixture of
:mod:`tests.store_backends`, once per backend) and the shared research data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.store_backends import store  # noqa: F401 - fixture


def shared_data_dir() -> Path:
    """``$SOCIALREC_SHARED_DATA`` or ``shared/data`` beside the repository checkout."""
    override = os.environ.get("SOCIALREC_SHARED_DATA")
    if override:
        return Path(override)
    return (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


@pytest.fixture
def lastfm_dir() -> Path:
    """The shared LastFM data directory; skips the test when it is absent."""
    path = shared_data_dir() / "lastfm"
    if not (path / "hetrec2011" / "user_artists.dat").is_file():
        pytest.skip(
            f"LastFM research data not found at {path} (set SOCIALREC_SHARED_DATA to the "
            "shared/data directory to run this test)"
        )
    return path
