"""Faults while serving: the graph store going away and coming back.

The end-to-end test runs the API as a real process (uvicorn on loopback) with
``SOCIALREC_STORE=neo4j`` on a local ArcadeDB Bolt server that it kills and restarts. The
gateway tests pin the health probe's caching and timeout with a store whose ``ping`` the test
controls.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gnn.checkpoint import save_checkpoint
from graph.export import export_snapshot
from graph.schema import canonical_friendship
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore, StoreUnavailableError
from serving.events import StoreGateway
from tests.api.social_graph import (
    API_KEY,
    DAY,
    FRIENDSHIPS,
    INTERACTIONS,
    ITEMS,
    T0,
    USERS,
    checkpoint_for,
)
from tests.bolt_server import ArcadeServer, free_port, target_from_env
from tests.server_process import python_server

KEY = {"X-API-Key": API_KEY}
SERVE = (
    "from socialrec.commands.serve import run_server; from serving.settings import Settings; "
    "run_server(Settings(_env_file=None))"
)


def _until(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.2)


def _health(base: str) -> dict[str, object]:
    response = httpx.get(f"{base}/health", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _items(base: str, user: str) -> list[str]:
    response = httpx.get(f"{base}/api/v1/users/{user}/recommendations", timeout=5)
    assert response.status_code == 200, response.text
    return [i["item_id"] for i in response.json()["items"]]


def _post_events(base: str, payload: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/events", json=payload, headers=KEY, timeout=30)


@pytest.fixture
def arcade(tmp_path: Path) -> Iterator[ArcadeServer]:
    """A local Bolt server this test may kill (never the shared or a configured one)."""
    if target_from_env() is not None:
        pytest.skip(
            "SOCIALREC_TEST_NEO4J_URI names an external server, which this test must not kill: "
            "the server-crash tests need the local ArcadeDB; the client-side kill "
            "(tests/graph/test_neo4j_store.py) runs against the external server instead"
        )
    server = ArcadeServer(tmp_path / "arcadedb")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _fill_and_export(server: ArcadeServer, work_dir: Path) -> None:
    """The known social graph into the Bolt store; its snapshot and checkpoint in work_dir."""
    store = server.target.open_store()
    try:
        store.upsert_users(USERS)
        store.upsert_items(ITEMS)
        store.upsert_friendships([canonical_friendship(f) for f in FRIENDSHIPS])
        store.upsert_interactions(INTERACTIONS)
        snapshot = export_snapshot(store, work_dir / "snapshot")
    finally:
        store.close()
    save_checkpoint(checkpoint_for(snapshot), work_dir / "model.pt")


def test_bolt_server_down_then_back(arcade: ArcadeServer, tmp_path: Path) -> None:
    _fill_and_export(arcade, tmp_path)
    target = arcade.target
    port = free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        SOCIALREC_WORK_DIR=str(tmp_path),
        SOCIALREC_API_KEY=API_KEY,
        SOCIALREC_PORT=str(port),
        SOCIALREC_STORE="neo4j",
        SOCIALREC_NEO4J_URI=target.uri,
        SOCIALREC_NEO4J_USER=target.user,
        SOCIALREC_NEO4J_PASSWORD=target.password,
        SOCIALREC_NEO4J_DATABASE=target.database,
    )
    lost = {
        "users": [{"user_id": "ghost"}],
        "events": [
            {"user_id": "a", "item_id": "p3", "kind": "click", "ts": T0 + 400 * DAY},
            {"user_id": "ghost", "item_id": "p4", "kind": "view", "ts": T0 + 401 * DAY},
        ],
    }
    kept = {"events": [{"user_id": "b", "item_id": "p6", "kind": "view", "ts": T0 + 402 * DAY}]}
    with python_server(SERVE, port, env) as server:
        base = server.base
        body = _health(base)
        assert body["status"] == "ok"
        assert body["dependencies"] == [
            {"name": "graph_store", "kind": "neo4j", "status": "ok", "detail": None}
        ]
        before = _items(base, "a")

        arcade.kill()
        # reads go on from the loaded snapshot
        assert _items(base, "a") == before
        assert _items(base, "c")
        # health: degraded (still 200) by its own probe, naming the store that is down
        _until(lambda: _health(base)["status"] == "degraded", "/health degraded")
        (store,) = _health(base)["dependencies"]  # type: ignore[misc]
        assert store["name"] == "graph_store" and store["kind"] == "neo4j"
        assert store["status"] == "down" and store["detail"]
        assert target.uri not in str(store["detail"])  # the address goes to the log only
        # writes: 503 with Retry-After, nothing applied to serving
        response = _post_events(base, lost)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "30"
        assert "p3" in _items(base, "a")  # a's click on p3 was not applied
        response = httpx.delete(f"{base}/api/v1/users/e", headers=KEY, timeout=30)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "30"
        assert _items(base, "a") == before
        assert _health(base)["status"] == "degraded"

        arcade.start()  # same ports, same data directory; the API keeps running
        _until(lambda: _post_events(base, kept).status_code == 200, "a write after restart")
        response = httpx.delete(f"{base}/api/v1/users/e", headers=KEY, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["deleted_from_store"] is True
        _until(lambda: _health(base)["status"] == "ok", "/health ok again")
    assert target.password not in server.output

    check = target.open_store()
    try:
        assert check.existing_user_ids(["ghost", "a", "e"]) == {"a"}
        stored = {(r.user_id, r.item_id, r.ts) for page in check.iter_interactions() for r in page}
    finally:
        check.close()
    assert ("b", "p6", T0 + 402 * DAY) in stored  # written after the restart
    assert not {("a", "p3", T0 + 400 * DAY), ("ghost", "p4", T0 + 401 * DAY)} & stored


class _Controls:
    """What the test makes the next pings do, and how many there were."""

    def __init__(self) -> None:
        self.pings = 0
        self.fail = False
        self.release = threading.Event()
        self.release.set()


class _PingStore(SQLiteStore):
    """A real SQLite store whose ``ping`` is counted and can be held or made to fail."""

    def __init__(self, path: Path, controls: _Controls) -> None:
        super().__init__(path)
        self.controls = controls

    def ping(self) -> None:
        self.controls.pings += 1
        self.controls.release.wait()
        if self.controls.fail:
            raise StoreUnavailableError("disk gone")
        super().ping()


@pytest.fixture
def controls() -> _Controls:
    return _Controls()


@pytest.fixture
def gateway_for(tmp_path: Path, controls: _Controls) -> Iterator[Callable[..., StoreGateway]]:
    """Builds gateways on a ``_PingStore`` (opened on the gateway's own thread, as SQLite
    requires); closes them after the test."""
    made: list[StoreGateway] = []

    def make(**kwargs: float) -> StoreGateway:
        gateway = StoreGateway(lambda: _PingStore(tmp_path / "graph.sqlite3", controls), **kwargs)
        made.append(gateway)
        return gateway

    yield make
    controls.release.set()
    for gateway in made:
        gateway.close()


def test_health_is_cached_for_the_ttl(
    gateway_for: Callable[..., StoreGateway], controls: _Controls
) -> None:
    gateway = gateway_for(probe_ttl_s=60)
    assert [gateway.health().available for _ in range(5)] == [True] * 5
    assert controls.pings == 1
    controls.fail = True
    assert gateway.health().available  # still the cached observation


def test_health_probes_again_after_the_ttl(
    gateway_for: Callable[..., StoreGateway], controls: _Controls
) -> None:
    gateway = gateway_for(probe_ttl_s=0)
    assert gateway.health().available
    controls.fail = True
    seen = gateway.health()
    assert not seen.available and seen.detail == "disk gone"
    controls.fail = False
    assert gateway.health().available  # the dropped handle was re-opened
    assert controls.pings == 3


def test_failed_write_marks_the_store_down_at_once(
    gateway_for: Callable[..., StoreGateway], controls: _Controls
) -> None:
    gateway = gateway_for(probe_ttl_s=60)

    def broken(store: GraphStore) -> None:
        raise StoreUnavailableError("connection reset")

    assert gateway.health().available
    with pytest.raises(StoreUnavailableError, match="connection reset"):
        gateway.call(broken)
    seen = gateway.health()
    assert not seen.available and seen.detail == "connection reset"
    assert controls.pings == 1  # the write's failure was the observation, no new probe


def test_a_store_that_does_not_answer_is_down_without_a_second_wait(
    gateway_for: Callable[..., StoreGateway], controls: _Controls
) -> None:
    gateway = gateway_for(probe_ttl_s=0, probe_timeout_s=0.2)
    assert gateway.health().available  # opened and answering
    controls.release.clear()  # from now on the store thread hangs in ping
    seen = gateway.health()
    assert not seen.available
    assert seen.detail == "the graph store did not answer within 0.2 s"
    # The probe is still pending: the next caller gets that same observation back at once
    # (waiting again would have recorded a new one) and no second probe is queued.
    assert gateway.health() is seen
    assert controls.pings == 2


def test_opener_failure_is_down_with_its_reason() -> None:
    def opener() -> GraphStore:
        raise ValueError("neo4j_password must be set")

    gateway = StoreGateway(opener)
    try:
        seen = gateway.health()
        assert not seen.available
        assert seen.detail == "cannot open the graph store: neo4j_password must be set"
    finally:
        gateway.close()
