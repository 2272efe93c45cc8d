"""Data safety through a real server, with each store behind it (issue 20): a write never
loses or silently changes what the store holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.schema import User
from tests.api.servers import open_store, serve_social_graph
from tests.api.social_graph import API_KEY
from tests.server_process import ServerProcess

KEY = {"X-API-Key": API_KEY}
Served = tuple[str, ServerProcess, Path]


@pytest.fixture(scope="module", params=["sqlite", "neo4j"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """(store kind, a running server, its work directory), shared by this module's tests."""
    kind: str = request.param
    work = tmp_path_factory.mktemp(kind)
    with serve_social_graph(kind, work, request) as server:
        yield kind, server, work


def _events(base: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{base}/api/v1/events", json=body, headers=KEY, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _stored_users(served: Served, request: pytest.FixtureRequest) -> dict[str, User]:
    kind, _, work = served
    store = open_store(kind, work, request)
    try:
        return {u.user_id: u for page in store.iter_users() for u in page}
    finally:
        store.close()


def test_registering_a_user_again_keeps_their_stored_attributes(
    served: Served, request: pytest.FixtureRequest
) -> None:
    base = served[1].base
    first = {"user_id": "n-reg", "region": "r5", "signup_ts": 1711397021}  # r5: a new region
    assert _events(base, {"users": [first]})["accepted_users"] == 1
    assert _stored_users(served, request)["n-reg"] == User("n-reg", "r5", 1711397021)
    again = _events(base, {"users": [{"user_id": "n-reg"}, {"user_id": "a"}]})
    assert again["accepted_users"] == 2 and again["errors"] == []
    stored = _stored_users(served, request)
    assert stored["n-reg"] == User("n-reg", "r5", 1711397021)
    assert stored["a"].region == "north"
    moved = _events(base, {"users": [{"user_id": "n-reg", "region": "r6"}]})
    assert moved["accepted_users"] == 1
    assert _stored_users(served, request)["n-reg"] == User("n-reg", "r6", 1711397021)


def test_ids_with_surrounding_whitespace_are_rejected_never_changed(
    served: Served, request: pytest.FixtureRequest
) -> None:
    base = served[1].base
    answer = _events(
        base,
        {
            "users": [{"user_id": " spaced "}, {"user_id": "in side"}],
            "events": [{"user_id": "a", "item_id": "p4 ", "kind": "view"}],
        },
    )
    assert answer["accepted_users"] == 1 and answer["accepted_interactions"] == 0
    reason = "has leading or trailing whitespace (ids are kept exactly as given, never stripped)"
    assert [(e["table"], e["field"], e["value"], e["reason"]) for e in answer["errors"]] == [
        ("users", "user_id", " spaced ", f"user_id {reason}"),
        ("events", "item_id", "p4 ", f"item_id {reason}"),
    ]
    stored = _stored_users(served, request)
    assert "in side" in stored and " spaced " not in stored and "spaced" not in stored
    assert httpx.get(f"{base}/api/v1/users/%20spaced%20/profile").status_code == 404
    assert httpx.get(f"{base}/api/v1/users/in%20side/profile").status_code == 200


def test_an_event_without_ts_happened_now(served: Served, request: pytest.FixtureRequest) -> None:
    """/events: an empty or absent ts is the time the server took the event (the loader's
    empty ts is an unknown time, -1: tests/graph/test_load.py)."""
    kind, server, work = served
    before = int(time.time())
    events = [
        {"user_id": "e", "item_id": "p4", "kind": "click", "ts": ""},
        {"user_id": "e", "item_id": "p1", "kind": "click"},
    ]
    assert _events(server.base, {"events": events})["accepted_interactions"] == 2
    after = int(time.time())
    store = open_store(kind, work, request)
    try:
        rows = [r for page in store.iter_interactions() for r in page if r.user_id == "e"]
    finally:
        store.close()
    stamps = {r.item_id: r.ts for r in rows if r.kind == "click"}
    assert set(stamps) == {"p4", "p1"}
    assert all(before <= ts <= after for ts in stamps.values())


def _head(served: Served, request: pytest.FixtureRequest) -> int:
    """The store's change-log head (the last sequence number given out)."""
    kind, _, work = served
    store = open_store(kind, work, request)
    try:
        return store.changes_since(0, 1).head
    finally:
        store.close()


def test_an_event_sent_again_is_stored_and_logged_once(
    served: Served, request: pytest.FixtureRequest
) -> None:
    kind, server, work = served
    base = server.base
    event = {"user_id": "g", "item_id": "p3", "kind": "view", "ts": 1_700_000_123}
    first = _events(base, {"users": [{"user_id": "g", "region": "south"}], "events": [event]})
    assert first["accepted_interactions"] == 1
    head = _head(served, request)
    for _ in range(3):
        again = _events(base, {"users": [{"user_id": "g"}], "events": [event]})
        assert again["accepted_interactions"] == 1 and again["errors"] == []
    assert _head(served, request) == head  # nothing new was logged
    marker = {**event, "ts": 1_700_000_124}
    assert _events(base, {"events": [marker]})["accepted_interactions"] == 1
    assert _head(served, request) == head + 1
    store = open_store(kind, work, request)
    try:
        rows = [r for page in store.iter_interactions() for r in page if r.user_id == "g"]
    finally:
        store.close()
    assert sorted(r.ts for r in rows) == [1_700_000_123, 1_700_000_124]


def _error(response: httpx.Response) -> dict[str, Any]:
    """The one 422 entry of ``response``, checked to be short and free of Python reprs."""
    assert response.status_code == 422, response.text
    assert len(response.content) < 2_000 and "np." not in response.text
    (entry,) = response.json()["detail"]
    assert isinstance(entry, dict)
    return entry


def test_invalid_values_answer_422_naming_the_field_with_short_echoes(served: Served) -> None:
    base = served[1].base
    recs = f"{base}/api/v1/users/a/recommendations"
    for params, field in (
        ({"category": "x"}, "category"),
        ({"min_price": 50, "max_price": 10}, "min_price"),
        ({"k": 0}, "k"),
    ):
        assert _error(httpx.get(recs, params=params))["loc"] == ["query", field]
    unknown = f"{base}/api/v1/users/zz/recommendations"
    region = _error(httpx.get(unknown, params={"fallback": "popular", "region": "mars"}))
    assert region["loc"] == ["query", "region"]
    many = {"events": [{"user_id": "a", "item_id": "p1", "kind": "view"}] * 1001}
    posted = httpx.post(f"{base}/api/v1/events", json=many, headers=KEY)
    assert _error(posted)["loc"] == ["body", "events"]
    long_id = "z" * 10_000
    long = _error(httpx.get(f"{base}/api/v1/users/{long_id}/recommendations"))
    assert long["loc"] == ["path", "user_id"] and len(long["input"]) <= 64
    feed = {"user_id": "a", "candidates": [{"item_id": "p1"}] * 10_000}
    too_many = _error(httpx.post(f"{base}/api/v1/feed/rank", json=feed, headers=KEY))
    assert too_many["loc"] == ["body", "candidates"] and len(str(too_many["input"])) < 120
    plan = {"budget": 0.5, "costs": {"a": 5, "b": 7}, "simulations": 10}
    cheap = _error(httpx.post(f"{base}/api/v1/campaigns/plan", json=plan))
    assert cheap["loc"] == ["body", "budget"] and "cheapest candidate cost 5.0" in cheap["msg"]
    seeds = _error(httpx.post(f"{base}/api/v1/reach", json={"seeds": [long_id]}))
    assert seeds["loc"] == ["body", "seeds", 0] and len(seeds["input"]) <= 64


def test_head_health_answers_like_get(served: Served) -> None:
    base = served[1].base
    head = httpx.head(f"{base}/health")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == httpx.get(f"{base}/health").headers["content-type"]
