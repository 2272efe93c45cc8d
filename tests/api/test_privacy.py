"""Privacy promises through real server processes (issue 20), on both stores.

Deleted users vanish from reach, influencer rankings and campaign plans (as seeds, candidates
and reached users) on every replica, after a restart (the change log is replayed onto the old
snapshot) and after ``/admin/reload`` of a snapshot exported before the deletion (issue
20.1). Users registered through ``/events`` are known to reach as they are to recommendations
and profiles (20.3).

The graph (``tests.api.social_graph``): friends a-b, a-c, f-b, f-c, and a follows d, so with
every edge taken (uniform p = 1) the seed d reaches d, a, b, c and f; without a, only d.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.export import export_snapshot
from graph.schema import User
from graph.snapshot import read_snapshot
from tests.api.servers import fill_bolt, open_store, serve_env, servers, until
from tests.api.social_graph import API_KEY, make_settings
from tests.bolt_server import BoltTarget

KEY = {"X-API-Key": API_KEY}
NEWCOMER = "newcomer-20"
EVERY_EDGE = {"kind": "uniform", "p": 1.0}


def _post(base: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}/api/v1{path}", json=body, headers=KEY, timeout=60)


def _reach(base: str, seeds: list[str]) -> httpx.Response:
    body = {"seeds": seeds, "probability": EVERY_EDGE, "simulations": 10, "seed": 1}
    return _post(base, "/reach", body)


def _caught_up(base: str) -> bool:
    sync = httpx.get(f"{base}/health", timeout=10).json()["sync"]
    return sync["head"] is not None and sync["lag"] == 0


def _names(value: Any) -> set[str]:
    """Every string anywhere in a JSON value (ids, keys)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {n for v in value.values() for n in _names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _names(v)}
    return set()


def _assert_served(base: str) -> None:
    """Before the deletion: a leads the ranking and is reached from d."""
    ranked = httpx.get(f"{base}/api/v1/influencers", params={"k": 7}, timeout=60)
    assert ranked.status_code == 200, ranked.text
    assert "a" in [row["user_id"] for row in ranked.json()["influencers"]]
    reach = _reach(base, ["d"])
    assert reach.status_code == 200, reach.text
    assert reach.json()["reach"]["mean"] == 5.0


def _assert_gone(base: str, user: str = "a") -> None:
    """``user`` (a) appears in no reach, ranking or plan answer, and reaches nobody."""
    assert _reach(base, [user]).status_code == 404
    assert _reach(base, ["d", user]).status_code == 404
    alone = _reach(base, ["d"])
    assert alone.status_code == 200, alone.text
    assert alone.json()["reach"]["mean"] == 1.0  # d no longer reaches anyone through a
    pair = _reach(base, ["b", "d"])
    assert pair.status_code == 200, pair.text
    assert pair.json()["reach"]["mean"] == 4.0  # b, f, c and d; a is not counted
    assert user not in _names(pair.json())
    segment = _post(base, "/reach", {"seeds": ["d"], "segment": {"activity": "active"}})
    assert segment.status_code in (200, 422), segment.text
    assert user not in _names(segment.json())

    ranked = httpx.get(f"{base}/api/v1/influencers", params={"k": 7}, timeout=60)
    assert ranked.status_code == 200, ranked.text
    assert user not in _names(ranked.json())

    for body in (
        {"k": 3, "simulations": 10, "seed": 1},
        {"k": 3, "probability": EVERY_EDGE, "simulations": 10, "seed": 1},
    ):
        plan = _post(base, "/campaigns/plan", body)
        assert plan.status_code == 200, plan.text
        assert user not in _names(plan.json())
    for body in (
        {"budget": 5.0, "costs": {user: 1.0, "b": 1.0}, "simulations": 10},
        {"k": 1, "candidates": [user, "b"], "simulations": 10},
    ):
        assert _post(base, "/campaigns/plan", body).status_code == 404


def _assert_registered_user_known(base: str) -> None:
    """A user registered through ``/events`` is a reach seed like any other (issue 20.3)."""
    assert httpx.get(f"{base}/api/v1/users/{NEWCOMER}/profile").status_code == 200
    alone = _reach(base, [NEWCOMER])
    assert alone.status_code == 200, alone.text
    assert alone.json()["reach"]["mean"] == 1.0  # the snapshot has no follows of theirs yet
    both = _reach(base, [NEWCOMER, "d"])
    assert both.status_code == 200, both.text
    assert both.json()["reach"]["mean"] == _reach(base, ["d"]).json()["reach"]["mean"] + 1.0
    plan = _post(base, "/campaigns/plan", {"k": 1, "candidates": [NEWCOMER], "simulations": 10})
    assert plan.status_code == 200, plan.text


def _reach_follows_membership(env: dict[str, str]) -> None:
    with servers(env, 2) as (first, second):
        for server in (first, second):
            _assert_served(server.base)
            assert _reach(server.base, [NEWCOMER]).status_code == 404
        registered = _post(first.base, "/events", {"users": [{"user_id": NEWCOMER}]})
        assert registered.status_code == 200 and registered.json()["accepted_users"] == 1
        _assert_registered_user_known(first.base)
        until(lambda: _reach(second.base, [NEWCOMER]).status_code == 200, "replica registers")
        _assert_registered_user_known(second.base)

        deleted = httpx.delete(f"{first.base}/api/v1/users/a", headers=KEY, timeout=30)
        assert deleted.status_code == 200, deleted.text
        _assert_gone(first.base)
        until(lambda: _reach(second.base, ["a"]).status_code == 404, "the replica forgets a")
        _assert_gone(second.base)
    # a restart serves the snapshot exported before the deletion and replays the log onto it
    with servers(env, 1) as (restarted,):
        until(lambda: _caught_up(restarted.base), "the restarted server replays the log")
        _assert_gone(restarted.base)
        _assert_registered_user_known(restarted.base)
        reload = httpx.post(f"{restarted.base}/api/v1/admin/reload", headers=KEY, timeout=60)
        assert reload.status_code == 200, reload.text
        _assert_gone(restarted.base)
        _assert_registered_user_known(restarted.base)


def test_reach_follows_registrations_and_deletions_sqlite(tmp_path: Path) -> None:
    make_settings(tmp_path)
    _reach_follows_membership(serve_env(tmp_path))


def test_reach_follows_registrations_and_deletions_bolt(
    bolt_target: BoltTarget, tmp_path: Path
) -> None:
    _reach_follows_membership(serve_env(tmp_path) | fill_bolt(bolt_target, tmp_path))


def _reason_users(base: str, user: str) -> set[str]:
    """Every user named in ``user``'s recommendation reasons."""
    response = httpx.get(f"{base}/api/v1/users/{user}/recommendations", params={"k": 10})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return {u for i in items for r in i["reasons"] for u in r.get("user_ids") or []}


def _closeness(base: str, viewer: str, authors: list[str], **headers: str) -> httpx.Response:
    candidates = [{"item_id": "p4", "author_id": a, "post_id": a} for a in authors]
    body = {"user_id": viewer, "candidates": candidates}
    return httpx.post(f"{base}/api/v1/feed/rank", json=body, headers=headers, timeout=30)


def _closeness_of(base: str, viewer: str, authors: list[str]) -> dict[str, float]:
    response = _closeness(base, viewer, authors, **KEY)
    assert response.status_code == 200, response.text
    return {i["author_id"]: i["closeness"] for i in response.json()["items"]}


def _assert_b_private(base: str) -> None:
    assert "b" not in _reason_users(base, "a") and "c" in _reason_users(base, "a")
    assert _closeness_of(base, "a", ["b", "c"])["b"] == 0.0  # a's friend b: not shown
    assert _closeness_of(base, "a", ["c"])["c"] > 0.0
    assert set(_closeness_of(base, "b", ["a", "f"]).values()) == {0.0}  # b's own friends
    profile = httpx.get(f"{base}/api/v1/users/a/profile").json()
    assert profile["social"]["friends"] == 1  # c only


@pytest.mark.parametrize("kind", ["sqlite", "neo4j"])
def test_the_privacy_setting_hides_activity_and_relations(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """b (a's friend, who bought p2) turns the setting on through ``/events``: b leaves a's
    reasons, every closeness through b is 0, and it holds after a restart and in the export."""
    make_settings(tmp_path)
    bolt = fill_bolt(request.getfixturevalue("bolt_target"), tmp_path) if kind == "neo4j" else {}
    env = serve_env(tmp_path) | bolt
    with servers(env, 1) as (server,):
        base = server.base
        assert _closeness(base, "a", ["b"]).status_code == 401  # authors need the key
        friend = _closeness_of(base, "a", ["c"])["c"]
        assert friend > 0.0 and _closeness_of(base, "a", ["b", "e"]) == {"b": friend, "e": 0.0}
        assert "b" in _reason_users(base, "a")
        setting = _post(base, "/events", {"users": [{"user_id": "b", "private": True}]})
        assert setting.json()["accepted_users"] == 1, setting.text
        _assert_b_private(base)
    with servers(env, 1) as (restarted,):  # the old snapshot, with the change log replayed
        until(lambda: _caught_up(restarted.base), "the restarted server replays the log")
        _assert_b_private(restarted.base)
    store = open_store(kind, tmp_path, request)
    try:
        assert User("b", "north", -1, True) in [u for page in store.iter_users() for u in page]
        exported = export_snapshot(store, tmp_path / "export")
    finally:
        store.close()
    reread = read_snapshot(tmp_path / "export")
    assert reread.user_private.tolist() == [u == "b" for u in reread.user_ids]
    assert reread.fingerprint == exported.fingerprint
    with servers(env | {"SOCIALREC_FEED_AUTHORS_REQUIRE_KEY": "false"}, 1) as (opened,):
        assert _closeness(opened.base, "a", ["c"]).status_code == 200
