"""Two API replicas on one store converge (issue 8, serving).

Two real ``socialrec serve`` processes (uvicorn on loopback) share one store and one model
directory, as ``docker compose up --scale api=2`` runs them: a SQLite file, then a Bolt server
(the local ArcadeDB, or the one named by ``SOCIALREC_TEST_NEO4J_*``). A write to one replica is
served by the other within the sync interval (recommendations, friends' activity, history), a
deletion on the other is forgotten by the first, re-reading one's own writes counts nothing
twice, and both answer the same. In-process tests pin the replay after a restart and a store
that cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from graph.store import GraphStore, StoreUnavailableError
from serving.events import StoreGateway
from serving.sync import ChangeSync
from tests.api.servers import fill_bolt, serve_env, servers, until
from tests.api.social_graph import API_KEY, DAY, T0, make_settings
from tests.bolt_server import BoltTarget
from tests.server_process import ServerProcess

KEY = {"X-API-Key": API_KEY}
#: A user id distinctive enough to search the servers' logs for.
NEWCOMER = "newcomer-7f3e"


def _get(base: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, timeout=10)


def _recs(base: str, user: str) -> dict[str, Any]:
    """A user's recommendations without the answer's own serve_id."""
    response = _get(base, f"/api/v1/users/{user}/recommendations", k=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body.pop("serve_id", None)
    return body


def _items(base: str, user: str) -> list[str]:
    return [item["item_id"] for item in _recs(base, user)["items"]]


def _interactions(base: str, user: str) -> int:
    response = _get(base, f"/api/v1/users/{user}/profile")
    assert response.status_code == 200, response.text
    return int(response.json()["interactions"])


def _sync(base: str) -> dict[str, Any]:
    response = _get(base, "/health")
    assert response.status_code == 200, response.text
    sync: dict[str, Any] = response.json()["sync"]
    return sync


def _caught_up(base: str, seq: int) -> bool:
    """Whether ``base`` has applied every logged write up to ``seq``."""
    return int(_sync(base)["watermark"]) >= seq


def _converge(first: ServerProcess, second: ServerProcess) -> None:
    """Write to ``first``, read from ``second``; delete on ``second``, read from ``first``."""
    a, b = first.base, second.base
    assert _recs(a, "a") == _recs(b, "a")
    assert "p2" in _items(b, "a")
    assert _get(b, f"/api/v1/users/{NEWCOMER}/recommendations").status_code == 404
    b_history = _interactions(b, "b")
    sync = _sync(b)
    assert sync["enabled"] is True and sync["interval_s"] == 0.3

    payload = {
        "users": [{"user_id": NEWCOMER, "region": "north"}],
        "events": [
            {"user_id": "a", "item_id": "p2", "kind": "purchase", "ts": T0 + 301 * DAY},
            {"user_id": "b", "item_id": "p3", "kind": "purchase", "ts": T0 + 302 * DAY},
            {"user_id": NEWCOMER, "item_id": "p5", "kind": "click", "ts": T0 + 303 * DAY},
        ],
    }
    response = httpx.post(f"{a}/api/v1/events", json=payload, headers=KEY, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []
    assert "p2" not in _items(a, "a")  # the replica that took the write applies it at once

    until(lambda: "p2" not in _items(b, "a"), "the other replica applies the write")
    written = int(_sync(b)["watermark"])
    until(lambda: _caught_up(a, written), "the writer re-reads its own write")
    # history: b's purchase counted once on both, although both read it from the log
    assert _interactions(b, "b") == _interactions(a, "b") == b_history + 1
    # friends' activity: a's friend b bought p3
    (p3,) = [item for item in _recs(b, "a")["items"] if item["item_id"] == "p3"]
    assert {"type": "friends_purchased", "count": 1, "user_ids": ["b"]} in [
        {k: v for k, v in reason.items() if v is not None} for reason in p3["reasons"]
    ]
    # a new user, registered through the other replica, is served with the same vector
    for user in ("a", "b", "f", NEWCOMER):
        assert _recs(a, user) == _recs(b, user), user

    # the same write again, to the other replica: it changes nothing, so nothing is logged
    response = httpx.post(f"{b}/api/v1/events", json=payload, headers=KEY, timeout=30)
    assert response.status_code == 200, response.text
    marker = {"events": [{"user_id": "f", "item_id": "p6", "kind": "view", "ts": T0 + 9 * DAY}]}
    response = httpx.post(f"{b}/api/v1/events", json=marker, headers=KEY, timeout=30)
    assert response.status_code == 200, response.text
    until(lambda: _caught_up(a, written + 1) and _caught_up(b, written + 1), "both read")
    assert _sync(a)["head"] == _sync(b)["head"] == written + 1  # the marker's, no other
    assert _interactions(a, "b") == _interactions(b, "b") == b_history + 1
    for user in ("a", "b", NEWCOMER):
        assert _recs(a, user) == _recs(b, user), user

    # a deletion on the second replica propagates to the first
    assert any(
        "c" in (r.get("user_ids") or []) for i in _recs(a, "a")["items"] for r in i["reasons"]
    )
    response = httpx.delete(f"{b}/api/v1/users/c", headers=KEY, timeout=30)
    assert response.status_code == 200, response.text
    until(
        lambda: _get(a, "/api/v1/users/c/recommendations").status_code == 404,
        "the other replica forgets the deleted user",
    )
    body = _recs(a, "a")
    assert all("c" not in (r.get("user_ids") or []) for i in body["items"] for r in i["reasons"])
    for user in ("a", "f", NEWCOMER):
        assert _recs(a, user) == _recs(b, user), user
    for base in (a, b):
        assert _sync(base)["lag"] == 0
        assert "socialrec_sync_watermark" in _get(base, "/metrics").text


def test_two_replicas_on_one_sqlite_file_converge(tmp_path: Path) -> None:
    make_settings(tmp_path)  # store, snapshot and checkpoint under tmp_path
    with servers(serve_env(tmp_path), 2) as (first, second):
        _converge(first, second)
    for server in (first, second):
        assert NEWCOMER not in server.output  # logs name changes by number only


def test_two_replicas_on_one_bolt_server_converge(bolt_target: BoltTarget, tmp_path: Path) -> None:
    env = serve_env(tmp_path) | fill_bolt(bolt_target, tmp_path)
    with servers(env, 2) as (first, second):
        _converge(first, second)
    for server in (first, second):
        assert NEWCOMER not in server.output
        assert bolt_target.password not in server.output


def _served_recs(client: TestClient, user: str) -> dict[str, Any]:
    """A user's recommendations without the answer's own serve_id."""
    body: dict[str, Any] = client.get(f"/api/v1/users/{user}/recommendations").json()
    body.pop("serve_id", None)
    return body


def _sync_of(app: FastAPI) -> ChangeSync:
    sync: ChangeSync = app.state.sync
    return sync


def test_a_restarted_replica_replays_the_log_onto_its_snapshot(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sync_interval_s=0)  # no thread: the test drives it
    payload = {
        "users": [{"user_id": NEWCOMER}],
        "events": [
            {"user_id": "a", "item_id": "p2", "kind": "purchase", "ts": T0 + 301 * DAY},
            {"user_id": NEWCOMER, "item_id": "p5", "kind": "click", "ts": T0 + 303 * DAY},
        ],
    }
    first_app = create_app(settings)
    with TestClient(first_app) as first:
        assert first.post("/api/v1/events", json=payload, headers=KEY).status_code == 200
        assert first.delete("/api/v1/users/c", headers=KEY).status_code == 200
        assert _sync_of(first_app).run_once() == 2  # its own two writes: applied again ...
        assert _sync_of(first_app).run_once() == 0
        wanted = {u: _served_recs(first, u) for u in ("a", "b", NEWCOMER)}
        profile = first.get("/api/v1/users/a/profile").json()

    restarted_app = create_app(settings)  # same snapshot: the writes are only in the log
    with TestClient(restarted_app) as restarted:
        # the log was applied before serving: the deletion and the new user hold at once
        assert restarted.get("/api/v1/users/c/recommendations").status_code == 404
        assert restarted.get(f"/api/v1/users/{NEWCOMER}/recommendations").status_code == 200
        assert _sync_of(restarted_app).run_once() == 0
        for user, body in wanted.items():
            assert _served_recs(restarted, user) == body
        assert restarted.get("/api/v1/users/a/profile").json() == profile  # ... counted once
        sync = restarted.get("/health").json()["sync"]
    assert sync["enabled"] is False
    assert sync["watermark"] == sync["head"] == 2 and sync["lag"] == 0


def test_a_store_that_cannot_be_read_stops_nothing(tmp_path: Path) -> None:
    attempts: list[int] = []

    def opener() -> GraphStore:
        attempts.append(len(attempts))
        raise StoreUnavailableError("the disk is gone")

    gateway = StoreGateway(opener, probe_ttl_s=0)  # every round probes (and re-opens)
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:  # the app's own state, read through a dead gateway
        sync = ChangeSync(gateway, app.state.holder, interval_s=0.01)
        try:
            with pytest.raises(StoreUnavailableError, match="the disk is gone"):
                sync.run_once()
            sync.start()
            until(lambda: len(attempts) >= 10, "the sync thread keeps trying")
            assert client.get("/api/v1/users/a/recommendations").status_code == 200
        finally:
            sync.stop()  # the thread survived every failed round and stops when asked
            gateway.close()
    seen = sync.status()
    assert seen.enabled and seen.watermark == 0
    assert seen.head is None and seen.lag is None and seen.since_success_s is None
