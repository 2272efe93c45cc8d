"""The graph store backends every store-level test runs against, and the ``store`` fixture.

``STORE_FACTORIES`` maps a backend name to a factory ``(request, tmp_path) -> GraphStore``
returning an empty store; the ``store`` fixture runs each test once per backend. A backend
that needs a server gets it through ``request.getfixturevalue(...)`` inside its factory.
Conftest files import the fixture (tests/graph for the store contract, tests/serving for the
serving code that writes through a store).
"""

from __future__ import annotations

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
