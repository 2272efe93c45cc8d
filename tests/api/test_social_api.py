"""Social serving through the app with its real lifespan (store, snapshot, checkpoint on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas.feed import FeedRankResponse
from gnn.checkpoint import save_checkpoint
from graph.snapshot import read_snapshot
from serving.settings import Settings
from tests.api.social_graph import API_KEY, DAY, T0, checkpoint_for, export, make_settings

KEY = {"X-API-Key": API_KEY}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def recs(client: TestClient, user: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/users/{user}/recommendations", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


# -- access ------------------------------------------------------------------------------------


def test_write_endpoints_need_the_key(client: TestClient) -> None:
    for method, url in [
        ("POST", "/api/v1/events"),
        ("DELETE", "/api/v1/users/a"),
        ("POST", "/api/v1/admin/reload"),
    ]:
        missing = client.request(method, url, json={})
        assert missing.status_code == 401, url
        assert missing.headers["WWW-Authenticate"] == "ApiKey"
        wrong = client.request(method, url, json={}, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 403, url
    assert client.get("/api/v1/users/a/recommendations").status_code == 200  # reads open


def test_no_key_configured_disables_writes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_key=None)
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/events", json={}, headers=KEY)
    assert response.status_code == 503
    assert "SOCIALREC_API_KEY" in response.json()["detail"]


def test_reads_can_require_the_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, read_requires_key=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/users/a/recommendations").status_code == 401
        assert client.get("/api/v1/users/a/profile").status_code == 401
        assert client.post("/api/v1/feed/rank", json={}).status_code == 401
        assert client.post("/api/v1/reach", json={"seeds": ["a"]}).status_code == 401
        assert client.post("/api/v1/campaigns/plan", json={"k": 1}).status_code == 401
        assert client.get("/api/v1/influencers").status_code == 401
        assert client.get("/api/v1/users/a/recommendations", headers=KEY).status_code == 200


# -- recommendations -----------------------------------------------------------------------------


def test_recommendations_with_reasons_filters_and_strategies(client: TestClient) -> None:
    body = recs(client, "a", k=5)
    assert body["strategy"] == "personalized"
    p2 = next(i for i in body["items"] if i["item_id"] == "p2")
    assert {"type": "friends_purchased", "count": 3, "user_ids": ["d", "c", "b"]} in p2["reasons"]
    assert set(ids(recs(client, "a", category="bags"))) == {"p4", "p5"}
    assert "p5" not in ids(recs(client, "a", in_stock_only=True))
    assert set(ids(recs(client, "a", min_price=40, max_price=200))) == {"p2"}
    bad = client.get("/api/v1/users/a/recommendations", params={"category": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "category"]
    assert recs(client, "f")["strategy"] == "social_cold_start"
    assert recs(client, "g")["strategy"] == "popular"
    assert client.get("/api/v1/users/zz/recommendations").status_code == 404
    assert recs(client, "zz", fallback="popular")["strategy"] == "popular"


def test_profile_endpoint(client: TestClient) -> None:
    body = client.get("/api/v1/users/c/profile").json()
    assert body["activity_segment"] == "churned"
    assert body["price_sensitivity"] == "premium"
    assert body["social"]["friends"] == 2
    assert client.get("/api/v1/users/zz/profile").status_code == 404


# -- events ----------------------------------------------------------------------------------


def test_events_validate_write_and_take_effect(client: TestClient, settings: Settings) -> None:
    assert "p2" in ids(recs(client, "a"))
    payload = {
        "users": [{"user_id": "n1", "region": "north"}, {"user_id": ""}],
        "events": [
            {"user_id": "a", "item_id": "p2", "kind": "purchase", "ts": T0 + 301 * DAY},
            {"user_id": "n1", "item_id": "p5", "kind": "click"},
            {"user_id": "a", "item_id": "nope", "kind": "view"},
            {"user_id": "a", "item_id": "p3", "kind": "teleport"},
            {"user_id": "a", "item_id": "p3", "kind": "rating", "value": 9},
            {"user_id": "a", "post_id": "post-1", "kind": "impression"},
            {"user_id": "ghost", "item_id": "p1", "kind": "impression"},
        ],
    }
    response = client.post("/api/v1/events", json=payload, headers=KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted_users"], body["accepted_interactions"]) == (1, 2)
    assert body["accepted_impressions"] == 1
    errors = {(e["table"], e["index"]): e for e in body["errors"]}
    assert set(errors) == {("users", 1), ("events", 2), ("events", 3), ("events", 4), ("events", 6)}
    assert errors[("events", 2)]["reason"] == "unknown item 'nope' (not in items nor in the store)"
    assert errors[("events", 3)]["field"] == "kind"
    # effect without retraining: the bought item leaves a's list; n1 is servable
    assert "p2" not in ids(recs(client, "a"))
    n1 = recs(client, "n1", k=2)
    assert n1["strategy"] == "personalized"
    assert ids(n1) == ["p4", "p3"]  # the fold-in of p5 = (0, 1)
    # durably in the store: the next export has them
    snapshot = export(settings.resolved_sqlite_path, settings.work_dir / "snap2")
    assert "n1" in snapshot.user_index
    assert len(snapshot.inter_user) == 7 + 2


def test_events_batch_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_events=2)
    events = [{"user_id": "a", "item_id": "p3", "kind": "view", "ts": T0 + n} for n in range(3)]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/events", json={"events": events}, headers=KEY)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "events"] and "at most 2" in error["msg"]


def test_store_unavailable_serves_reads_and_503s_writes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store="neo4j", neo4j_password=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/users/a/recommendations").status_code == 200
        event = {"user_id": "a", "item_id": "p3", "kind": "view"}
        response = client.post("/api/v1/events", json={"events": [event]}, headers=KEY)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(settings.store_retry_after_s)
        assert "p3" in ids(recs(client, "a"))  # nothing applied


# -- feed ------------------------------------------------------------------------------------


def test_feed_rank_closeness_and_cap(client: TestClient) -> None:
    candidates = [
        {"item_id": "p4", "author_id": "e", "post_id": "s"},
        {"item_id": "p4", "author_id": "b", "post_id": "f"},
        {"item_id": "p2", "post_id": "hot"},
    ]
    request = {"user_id": "a", "candidates": candidates}
    assert client.post("/api/v1/feed/rank", json=request).status_code == 401  # authors: key
    body = client.post("/api/v1/feed/rank", json=request, headers=KEY)
    assert body.status_code == 200, body.text
    posts = [i["post_id"] for i in body.json()["items"]]
    assert posts.index("f") < posts.index("s")  # friend's post above the stranger's
    assert posts[0] == "hot"  # p2 scores highest for a
    shown = [{"user_id": "a", "post_id": "hot", "kind": "impression"}] * 3
    assert client.post("/api/v1/events", json={"events": shown}, headers=KEY).status_code == 200
    body = client.post("/api/v1/feed/rank", json=request, headers=KEY)
    # The JSON is exactly the response schema's (nothing missing, renamed or extra).
    assert FeedRankResponse.model_validate_json(body.text).model_dump(mode="json") == body.json()
    items = body.json()["items"]
    assert items[-1]["post_id"] == "hot" and items[-1]["capped"]
    assert items[-1]["impressions"] == 3
    unknown = client.post(
        "/api/v1/feed/rank", json={"user_id": "zz", "candidates": candidates}, headers=KEY
    )
    assert unknown.status_code == 200 and unknown.json()["strategy"] == "popular"


# -- delete and reload ---------------------------------------------------------------------------


def test_delete_user(client: TestClient, settings: Settings) -> None:
    response = client.delete("/api/v1/users/d", headers=KEY)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": "d",
        "deleted_from_store": True,
        "removed_from_serving": True,
    }
    assert client.get("/api/v1/users/d/recommendations").status_code == 404
    for user in ("a", "b", "c", "f"):
        for item in recs(client, user, k=6)["items"]:
            for reason in item["reasons"]:
                assert "d" not in reason.get("user_ids", [])
    assert client.delete("/api/v1/users/d", headers=KEY).status_code == 404
    snapshot = export(settings.resolved_sqlite_path, settings.work_dir / "snap2")
    assert "d" not in snapshot.user_index


def test_reload_swaps_and_keeps_live_changes(client: TestClient, settings: Settings) -> None:
    before = client.get("/health").json()["model_version"]
    event = {"user_id": "a", "item_id": "p3", "kind": "view", "ts": T0 + 301 * DAY}
    assert client.post("/api/v1/events", json={"events": [event]}, headers=KEY).status_code == 200
    assert client.delete("/api/v1/users/b", headers=KEY).status_code == 200
    snapshot = read_snapshot(settings.resolved_snapshot_dir)  # the old export: still has b
    ckpt = checkpoint_for(snapshot, sign=-1.0)
    ckpt.created_at = "2099-01-01T00:00:00+00:00"
    save_checkpoint(ckpt, settings.resolved_checkpoint_path)
    response = client.post("/api/v1/admin/reload", headers=KEY)
    assert response.status_code == 200, response.text
    assert response.json()["live_interactions"] == 1
    assert client.get("/health").json()["model_version"] != before
    assert "p3" not in ids(recs(client, "a", k=6))  # the live view survived the reload
    assert client.get("/api/v1/users/b/recommendations").status_code == 404  # still deleted
    assert ids(recs(client, "e", k=1)) == ["p1"]  # negated e = (1, 0) now prefers p1


def test_reload_with_broken_artifacts_keeps_serving(client: TestClient, settings: Settings) -> None:
    settings.resolved_checkpoint_path.write_bytes(b"not a checkpoint")
    response = client.post("/api/v1/admin/reload", headers=KEY)
    assert response.status_code == 409
    assert "cannot start the API" in response.json()["detail"]
    assert client.get("/api/v1/users/a/recommendations").status_code == 200
