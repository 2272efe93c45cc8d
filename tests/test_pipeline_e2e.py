"""End to end: `socialrec demo` on a tiny world, answered by a real uvicorn process.

The demo generates a world, loads it into the store, exports a snapshot, trains LightGCN a few
epochs and serves; the test then asks the running server (over TCP, not a TestClient) for
recommendations and checks them against the exported snapshot.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from graph.snapshot import Snapshot, read_snapshot
from tests.bolt_server import BoltTarget, clear_database, free_port

STARTUP_TIMEOUT_S = 240.0
K = 10


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path, port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            if _get(f"http://127.0.0.1:{port}/health")[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"demo not serving after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SOCIALREC_WORK_DIR=str(tmp_path / "work"),
        SOCIALREC_STORE="sqlite",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        COLUMNS="120",
    )
    return env


@contextmanager
def _run_demo(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, str, Snapshot]]:
    port = free_port()
    log = tmp_path / "demo.log"
    command = [
        sys.executable, "-m", "socialrec.cli", "demo",
        "--users", "300", "--items", "150", "--epochs", "4", "--port", str(port),
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(process, log, port)
        printed = log.read_text()
        match = re.search(r"curl '(http://127\.0\.0\.1:\d+/api/v1/users/([^/]+)/[^']+)'", printed)
        assert match, f"the demo printed no example request:\n{printed}"
        assert "recall@10" in printed.lower(), f"the demo printed no metrics:\n{printed}"
        snapshot = read_snapshot(Path(env["SOCIALREC_WORK_DIR"]) / "snapshot")
        yield port, match.group(2), snapshot
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _check_recommendations(port: int, user_id: str, snapshot: Snapshot) -> None:
    status, body = _get(f"http://127.0.0.1:{port}/api/v1/users/{user_id}/recommendations?k={K}")
    assert status == 200, body
    items = body["items"]
    assert isinstance(items, list) and len(items) == K
    user = snapshot.user_index[user_id]
    seen = {snapshot.item_ids[i] for i in snapshot.inter_item[snapshot.inter_user == user]}
    assert seen, "the example user should have interactions"
    recommended = [entry["item_id"] for entry in items]
    assert not seen & set(recommended), "recommended an item the user already interacted with"
    assert len(set(recommended)) == K
    scores = [entry["score"] for entry in items]
    assert scores == sorted(scores, reverse=True)

    status, body = _get(f"http://127.0.0.1:{port}/api/v1/users/no-such-user/recommendations")
    assert status == 404 and "no-such-user" in str(body["detail"])
    status, body = _get(f"http://127.0.0.1:{port}/health")
    assert status == 200 and body["snapshot"]["fingerprint"] == snapshot.fingerprint


@pytest.mark.slow
def test_demo_end_to_end_on_sqlite(demo_env: dict[str, str], tmp_path: Path) -> None:
    with _run_demo(demo_env, tmp_path) as (port, user_id, snapshot):
        assert snapshot.num_users == 300
        _check_recommendations(port, user_id, snapshot)
    assert (tmp_path / "work" / "graph.sqlite3").is_file()
    assert (tmp_path / "work" / "model.pt").is_file()


@pytest.mark.slow
def test_demo_end_to_end_on_bolt(
    demo_env: dict[str, str], tmp_path: Path, bolt_target: BoltTarget
) -> None:
    store = bolt_target.open_store()
    clear_database(store)
    store.close()
    demo_env.update(
        SOCIALREC_STORE="neo4j",
        SOCIALREC_NEO4J_URI=bolt_target.uri,
        SOCIALREC_NEO4J_USER=bolt_target.user,
        SOCIALREC_NEO4J_PASSWORD=bolt_target.password,
        SOCIALREC_NEO4J_DATABASE=bolt_target.database,
    )
    with _run_demo(demo_env, tmp_path) as (port, user_id, snapshot):
        assert snapshot.meta["source"] == "neo4j"
        _check_recommendations(port, user_id, snapshot)
    assert not (tmp_path / "work" / "graph.sqlite3").exists()
