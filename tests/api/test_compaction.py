"""The change log is compacted without changing what a replica serves (issue 20.7b).

A replica that replays the whole log onto the newest snapshot and one started after the log
was compacted up to that snapshot (reading only the writes since) serve exactly the same
recommendations, profiles and reach, on both stores; deletions survive compaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gnn.checkpoint import save_checkpoint
from graph.export import export_snapshot
from tests.api.servers import fill_bolt, open_store, serve_env, servers, until
from tests.api.social_graph import API_KEY, DAY, T0, checkpoint_for, make_settings

KEY = {"X-API-Key": API_KEY}
USERS = ("a", "b", "e", "f", "n2")
#: Seconds a request may take: generous, since a loaded 2-core CI box runs other servers too.
TIMEOUT = 60


def _write(base: str, path: str, body: dict[str, Any] | None = None) -> None:
    method = "DELETE" if body is None else "POST"
    response = httpx.request(
        method, f"{base}/api/v1{path}", json=body, headers=KEY, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text


def _answers(base: str) -> dict[str, Any]:
    until(
        lambda: (
            (s := httpx.get(f"{base}/health", timeout=TIMEOUT).json()["sync"])["head"] is not None
            and s["lag"] == 0
        ),
        "the replica reads the change log",
    )
    out: dict[str, Any] = {}
    for user in (*USERS, "c", "d"):
        recs = httpx.get(
            f"{base}/api/v1/users/{user}/recommendations", params={"k": 6}, timeout=TIMEOUT
        )
        profile = httpx.get(f"{base}/api/v1/users/{user}/profile", timeout=TIMEOUT)
        body = recs.json()
        body.pop("serve_id", None)  # every answer has its own
        out[user] = (recs.status_code, body, profile.status_code, profile.json())
    reach = {
        "seeds": ["a"],
        "probability": {"kind": "uniform", "p": 1.0},
        "simulations": 10,
        "seed": 3,
    }
    out["reach"] = httpx.post(f"{base}/api/v1/reach", json=reach, timeout=TIMEOUT).json()
    return out


@pytest.mark.parametrize("kind", ["sqlite", "neo4j"])
def test_a_replica_after_compaction_serves_what_a_full_replay_serves(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    make_settings(tmp_path)
    bolt = fill_bolt(request.getfixturevalue("bolt_target"), tmp_path) if kind == "neo4j" else {}
    env = serve_env(tmp_path) | bolt
    with servers(env, 1) as (writer,):  # writes before the export ...
        events = [
            {"user_id": "a", "item_id": "p2", "kind": "purchase", "ts": T0 + 301 * DAY},
            {"user_id": "b", "item_id": "p3", "kind": "view", "ts": T0 + 302 * DAY},
        ]
        _write(writer.base, "/events", {"events": events})
        _write(writer.base, "/users/c")
        store = open_store(kind, tmp_path, request)
        try:
            snapshot = export_snapshot(store, tmp_path / "snapshot")
        finally:
            store.close()
        save_checkpoint(checkpoint_for(snapshot), tmp_path / "model.pt")
        later = [  # ... and after it
            {"user_id": "e", "item_id": "p2", "kind": "view", "ts": T0 + 303 * DAY},
            {"user_id": "n2", "item_id": "p1", "kind": "click", "ts": T0 + 304 * DAY},
        ]
        _write(writer.base, "/events", {"users": [{"user_id": "n2"}], "events": later})
        _write(writer.base, "/users/d")
    head = int(snapshot.meta["change_seq"])
    assert head > 0
    meta_path = tmp_path / "snapshot" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "change_seq"}))
    with servers(env, 1) as (full,):  # no change_seq: replays the whole log
        replayed = _answers(full.base)
    meta_path.write_text(json.dumps(meta))
    store = open_store(kind, tmp_path, request)
    try:
        assert store.compact_changes(head) == 2  # the two interactions; the deletion stays
        kept = store.changes_since(0).changes
    finally:
        store.close()
    assert [c.deleted_user for c in kept] == ["c", None, "d"]
    with servers(env, 1) as (compacted,):
        assert _answers(compacted.base) == replayed
    assert replayed["c"][0] == replayed["d"][0] == 404
    assert replayed["n2"][0] == 200
