"""Attribution through a real server process, on both stores (issue 23): serve ids on
recommendation and feed answers, events attributed exactly (last touch within the window,
outside it, two serves then a purchase, explicit serve_id wins), stored in the graph store, and
purged when the user is deleted.

The graph is tests/api/social_graph.py; the user ``a`` has bought p1, so p2..p6 are served.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.serve_log import Attribution
from graph.store import GraphStore
from tests.api.servers import open_store, serve_social_graph
from tests.api.social_graph import API_KEY

KEY = {"X-API-Key": API_KEY}
HOUR = 3600


def _events(base: str, *events: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/events", json={"events": list(events)}, headers=KEY, timeout=60
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["errors"] == []
    return body


def _attributions(store: GraphStore) -> list[Attribution]:
    return [a for page in store.iter_attributions() for a in page]


@pytest.mark.parametrize("kind", ["sqlite", "neo4j"])
def test_events_are_attributed_to_the_serves_they_came_from(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with serve_social_graph(
        kind, tmp_path, request, SOCIALREC_ATTRIBUTION_WINDOW_HOURS="1"
    ) as server:
        base = server.base
        rec = httpx.get(f"{base}/api/v1/users/a/recommendations", params={"k": 3}, timeout=60)
        assert rec.status_code == 200, rec.text
        first = rec.json()
        s1, items = first["serve_id"], [i["item_id"] for i in first["items"]]
        assert len(s1) == 32 and [i["position"] for i in first["items"]] == [1, 2, 3]
        time.sleep(1.1)  # the feed serve is a later second than the recommendation
        feed = httpx.post(
            f"{base}/api/v1/feed/rank",
            json={"user_id": "a", "candidates": [{"item_id": items[0]}, {"item_id": "p6"}]},
            timeout=60,
        ).json()
        s2 = feed["serve_id"]
        assert s2 != s1 and sorted(p["position"] for p in feed["items"]) == [1, 2]
        now = int(time.time())

        # clicked within the window: the recommendation, at the item's position
        assert _events(base, {"user_id": "a", "item_id": items[1], "kind": "click",
                              "ts": now + 60})["attributed"] == 1  # fmt: skip
        # clicked outside the 1-hour window: unattributed
        assert _events(base, {"user_id": "a", "item_id": items[2], "kind": "click",
                              "ts": now + 2 * HOUR})["attributed"] == 0  # fmt: skip
        # two serves showed items[0], then a purchase: the later serve (the feed)
        assert _events(base, {"user_id": "a", "item_id": items[0], "kind": "purchase",
                              "ts": now + 120})["attributed"] == 1  # fmt: skip
        # an explicit serve_id wins over the later serve
        assert _events(base, {"user_id": "a", "item_id": items[0], "kind": "click",
                              "ts": now + 130, "serve_id": s1})["attributed"] == 1  # fmt: skip
        # an impression sent back with the feed's serve id; a stranger's click is organic
        body = _events(
            base,
            {"user_id": "a", "item_id": "p6", "kind": "impression", "ts": now + 140,
             "serve_id": s2},
            {"user_id": "e", "item_id": items[1], "kind": "click", "ts": now + 150},
        )  # fmt: skip
        assert (body["accepted_impressions"], body["attributed"]) == (1, 1)

        store = open_store(kind, tmp_path, request)
        try:
            found = {(a.item_id, a.kind): a for a in _attributions(store)}
            p6 = 1 + [p["item_id"] for p in feed["items"]].index("p6")
            first_in_feed = 1 + [p["item_id"] for p in feed["items"]].index(items[0])
            assert {k: (a.serve_id, a.position, a.method, a.ts) for k, a in found.items()} == {
                (items[1], "click"): (s1, 2, "last_touch", now + 60),
                (items[0], "purchase"): (s2, first_in_feed, "last_touch", now + 120),
                (items[0], "click"): (s1, 1, "explicit", now + 130),
                ("p6", "impression"): (s2, p6, "explicit", now + 140),
            }
            serves = {s.serve_id: s for s in store.serves_by_id([s1, s2])}
            assert (serves[s1].surface, serves[s1].items) == ("rec", tuple(items))
            assert serves[s2].surface == "feed" and serves[s2].user_id == "a"
        finally:
            store.close()

        deleted = httpx.delete(f"{base}/api/v1/users/a", headers=KEY, timeout=60)
        assert deleted.status_code == 200, deleted.text
        store = open_store(kind, tmp_path, request)
        try:
            assert store.serves_by_id([s1, s2]) == []
            assert _attributions(store) == []
        finally:
            store.close()


def test_the_serve_log_can_be_turned_off(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with serve_social_graph("sqlite", tmp_path, request, SOCIALREC_SERVE_LOG="false") as server:
        rec = httpx.get(f"{server.base}/api/v1/users/a/recommendations", timeout=60).json()
        assert "serve_id" not in rec and rec["items"][0]["position"] == 1
        body = _events(server.base, {"user_id": "a", "item_id": rec["items"][0]["item_id"],
                                     "kind": "click"})  # fmt: skip
        assert body["attributed"] == 0
    store = open_store("sqlite", tmp_path, request)
    try:
        assert store.serve_counts() == (0, 0)
    finally:
        store.close()
