"""Fixtures for graph tests: the store contract's backends and the shared research data.

``STORE_FACTORIES`` maps a backend name to a factory ``(request, tmp_path) -> GraphStore``
returning an empty store; the ``store`` fixture runs each test once per backend. A backend
that needs a server gets it through ``request.getfixturevalue(...)`` inside its factory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from tests.bolt_server import clear_database

StoreFactory = Callable[[pytest.FixtureRequest, Path], GraphStore]


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> GraphStore:
    return SQLiteStore(tmp_path / "graph.sqlite3")


def _neo4j(request: pytest.FixtureRequest, tmp_path: Path) -> GraphStore:
    store = request.getfixturevalue("bolt_target").open_store()
    clear_database(store)
    return store


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite, "neo4j": _neo4j}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend in ``STORE_FACTORIES``."""
    graph_store = STORE_FACTORIES[request.param](request, tmp_path)
    try:
        yield graph_store
    finally:
        graph_store.close()


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
