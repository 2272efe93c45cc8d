"""Helpers of the tests that run API servers as real processes on one store."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import pytest

from gnn.checkpoint import save_checkpoint
from graph.export import export_snapshot
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from tests.api.social_graph import API_KEY, checkpoint_for, make_settings, write_graph
from tests.bolt_server import BoltTarget, clear_database, free_port
from tests.server_process import ServerProcess, python_server

SERVE: Final[str] = (
    "from socialrec.commands.serve import run_server; from serving.settings import Settings; "
    "run_server(Settings(_env_file=None))"
)
#: Bound on waits for a server to apply a write (the sync interval is 0.3 s).
WAIT_S: Final[float] = 30.0


def until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``WAIT_S`` seconds."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WAIT_S} s")
        time.sleep(0.1)


def serve_env(work_dir: Path) -> dict[str, str]:
    """The environment of a server on ``work_dir`` with the test key and a 0.3 s sync."""
    return dict(
        os.environ,
        OMP_NUM_THREADS="1",
        SOCIALREC_WORK_DIR=str(work_dir),
        SOCIALREC_API_KEY=API_KEY,
        SOCIALREC_SYNC_INTERVAL_S="0.3",
    )


def fill_bolt(target: BoltTarget, work: Path) -> dict[str, str]:
    """The social graph in the Bolt store, with its snapshot and checkpoint under ``work``;
    returns the environment that points a server at that store."""
    store = target.open_store()
    try:
        clear_database(store)
        write_graph(store)
        snapshot = export_snapshot(store, work / "snapshot")
    finally:
        store.close()
    save_checkpoint(checkpoint_for(snapshot), work / "model.pt")
    return {
        "SOCIALREC_STORE": "neo4j",
        "SOCIALREC_NEO4J_URI": target.uri,
        "SOCIALREC_NEO4J_USER": target.user,
        "SOCIALREC_NEO4J_PASSWORD": target.password,
        "SOCIALREC_NEO4J_DATABASE": target.database,
    }


@contextmanager
def servers(env: dict[str, str], count: int) -> Iterator[list[ServerProcess]]:
    """``count`` API processes with ``env`` (each on its own free port), stopped on exit."""
    with ExitStack() as stack:
        running = []
        for _ in range(count):
            port = free_port()
            serving = python_server(SERVE, port, env | {"SOCIALREC_PORT": str(port)})
            running.append(stack.enter_context(serving))
        yield running


@contextmanager
def serve_social_graph(
    kind: str, work: Path, request: pytest.FixtureRequest, **env: str
) -> Iterator[ServerProcess]:
    """One server on the social graph held in a ``kind`` store (``"sqlite"`` or ``"neo4j"``:
    the session's Bolt server), files under ``work``, extra ``SOCIALREC_*`` settings ``env``."""
    make_settings(work)  # SQLite store, snapshot and checkpoint
    extra = fill_bolt(request.getfixturevalue("bolt_target"), work) if kind == "neo4j" else {}
    with servers(serve_env(work) | extra | env, 1) as (server,):
        yield server


def open_store(kind: str, work: Path, request: pytest.FixtureRequest) -> GraphStore:
    """The store a :func:`serve_social_graph` server of ``kind`` on ``work`` writes to."""
    if kind == "sqlite":
        return SQLiteStore(work / "graph.sqlite3")
    target: BoltTarget = request.getfixturevalue("bolt_target")
    return target.open_store()
