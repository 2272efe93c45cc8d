"""Hostile ids through a real server (uvicorn on loopback), with each store behind it: a new
user posted with such an id is served, profiled and deleted under that exact id (URL-encoded in
the path) and stored literally; over-long ids, oversize bodies and writes without the right
key are refused and store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final
from urllib.parse import quote

import httpx
import pytest

from graph.export import export_snapshot
from graph.snapshot import Snapshot
from graph.validate import MAX_ID_CHARS
from tests.api.servers import open_store, serve_social_graph
from tests.api.social_graph import (
    API_KEY,
    USERS,
)
from tests.server_process import ServerProcess

KEY: Final[dict[str, str]] = {"X-API-Key": API_KEY}
MAX_BODY: Final[int] = 65_536
CYPHER: Final[str] = "x'}) DETACH DELETE n //"
WEIRD: Final[list[str]] = [
    CYPHER,
    'it\'s "quoted" \\ back\\',
    "'; DROP TABLE users; --",
    "a/b?c=d#e&f=%41+g",
    "😀 שלום e\u0301 \u202eevil",
    "line\nbreak",
    "🛒" * MAX_ID_CHARS,
]
TOO_LONG: Final[str] = "z" * 10_000


def _export(kind: str, work: Path, request: pytest.FixtureRequest) -> Snapshot:
    store = open_store(kind, work, request)
    try:
        return export_snapshot(store, work / "export")
    finally:
        store.close()


@pytest.fixture(scope="module", params=["sqlite", "neo4j"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServerProcess, Path]]:
    """(store kind, a running server, its work directory) on the social graph held in that
    store; shared by the tests of this module."""
    kind: str = request.param
    work = tmp_path_factory.mktemp(kind)
    with serve_social_graph(kind, work, request, SOCIALREC_MAX_BODY_BYTES=str(MAX_BODY)) as server:
        yield kind, server, work


def _user_url(base: str, user_id: str, suffix: str = "") -> str:
    return f"{base}/api/v1/users/{quote(user_id, safe='')}{suffix}"


def test_hostile_ids_round_trip(
    served: tuple[str, ServerProcess, Path], request: pytest.FixtureRequest
) -> None:
    kind, server, work = served
    users = [{"user_id": uid, "region": "north"} for uid in [*WEIRD, TOO_LONG]]
    events = [{"user_id": uid, "item_id": "p4", "kind": "purchase"} for uid in [*WEIRD, TOO_LONG]]
    posted = httpx.post(
        f"{server.base}/api/v1/events", json={"users": users, "events": events}, headers=KEY
    )
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert (body["accepted_users"], body["accepted_interactions"]) == (len(WEIRD), len(WEIRD))
    long_reason = "user_id is 10000 characters long, more than 256"
    assert [(e["table"], e["index"], e["reason"]) for e in body["errors"]] == [
        ("users", len(WEIRD), long_reason),
        ("events", len(WEIRD), long_reason),
    ]

    for uid in WEIRD:
        recs = httpx.get(_user_url(server.base, uid, "/recommendations"), params={"k": 6})
        assert recs.status_code == 200, (uid, recs.text)
        assert recs.json()["user_id"] == uid
        assert recs.json()["strategy"] == "personalized"
        assert "p4" not in [i["item_id"] for i in recs.json()["items"]]  # seen: excluded
        profile = httpx.get(_user_url(server.base, uid, "/profile"))
        assert profile.status_code == 200, (uid, profile.text)
        assert (profile.json()["user_id"], profile.json()["interactions"]) == (uid, 1)

    too_long = httpx.get(_user_url(server.base, TOO_LONG, "/recommendations"))
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["type"] == "string_too_long"

    deleted = httpx.delete(_user_url(server.base, CYPHER), headers=KEY)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["user_id"] == CYPHER
    assert httpx.get(_user_url(server.base, CYPHER, "/recommendations")).status_code == 404
    assert httpx.get(_user_url(server.base, "a", "/recommendations")).status_code == 200

    snapshot = _export(kind, work, request)
    kept = set(WEIRD) - {CYPHER}
    assert kept <= set(snapshot.user_ids)
    assert CYPHER not in snapshot.user_ids and TOO_LONG not in snapshot.user_ids
    assert len(snapshot.user_ids) == len(USERS) + len(kept)
    p4 = snapshot.item_index["p4"]
    buyers = {
        snapshot.user_ids[u]
        for u, i in zip(snapshot.inter_user, snapshot.inter_item, strict=True)
        if i == p4
    }
    assert kept <= buyers


def test_refused_writes_store_nothing(
    served: tuple[str, ServerProcess, Path], request: pytest.FixtureRequest
) -> None:
    kind, server, work = served
    url = f"{server.base}/api/v1/events"
    payload = {"users": [{"user_id": "intruder"}]}
    for headers, status in [
        ({}, 401),
        ({"X-API-Key": ""}, 403),
        ({"X-API-Key": API_KEY[:-1]}, 403),
        ({"X-API-Key": API_KEY + "4"}, 403),
        ({"X-API-Key": API_KEY.upper()}, 403),
        ({"X-API-Key": "ключ".encode()}, 403),
    ]:
        assert httpx.post(url, json=payload, headers=headers).status_code == status, headers
    assert httpx.delete(_user_url(server.base, "a")).status_code == 401

    # Oversize bodies: 413 whether the length is declared or the body is streamed in chunks.
    big = {"users": [{"user_id": "intruder", "region": "r" * MAX_BODY}]}
    assert httpx.post(url, json=big, headers=KEY).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"users": [{"user_id": "intruder", "region": "'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"r" * 1024
        yield b'"}]}'

    streamed = httpx.post(
        url, content=chunks(), headers={**KEY, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413

    assert httpx.get(_user_url(server.base, "intruder", "/profile")).status_code == 404
    assert httpx.get(_user_url(server.base, "a", "/profile")).status_code == 200
    assert "intruder" not in _export(kind, work, request).user_ids
