"""Events, delete and reload through a real server process (uvicorn on loopback)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx

from gnn.checkpoint import save_checkpoint
from graph.snapshot import read_snapshot
from tests.api.social_graph import API_KEY, DAY, T0, checkpoint_for, export, make_settings
from tests.bolt_server import free_port
from tests.server_process import python_server

KEY = {"X-API-Key": API_KEY}


def _items(base: str, user: str, **params: object) -> list[str]:
    response = httpx.get(f"{base}/api/v1/users/{user}/recommendations", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [i["item_id"] for i in response.json()["items"]]


def test_events_delete_reload_on_a_real_server(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    port = free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        SOCIALREC_WORK_DIR=str(tmp_path),
        SOCIALREC_API_KEY=API_KEY,
        SOCIALREC_PORT=str(port),
    )
    code = (
        "from socialrec.commands.serve import run_server; from serving.settings import Settings; "
        "run_server(Settings(_env_file=None))"
    )
    with python_server(code, port, env) as server:
        base = server.base
        # events: a buys p2 -> p2 leaves a's list; a brand-new user becomes servable
        assert "p2" in _items(base, "a")
        assert httpx.get(f"{base}/api/v1/users/n1/recommendations").status_code == 404
        payload = {
            "users": [{"user_id": "n1"}],
            "events": [
                {"user_id": "a", "item_id": "p2", "kind": "purchase", "ts": T0 + 301 * DAY},
                {"user_id": "n1", "item_id": "p5", "kind": "click"},
            ],
        }
        response = httpx.post(f"{base}/api/v1/events", json=payload, headers=KEY)
        assert response.status_code == 200, response.text
        assert response.json()["errors"] == []
        assert "p2" not in _items(base, "a")
        assert _items(base, "n1", k=2) == ["p4", "p3"]

        # delete: gone from serving and reasons at once, and from the store
        assert httpx.delete(f"{base}/api/v1/users/d", headers=KEY).status_code == 200
        assert httpx.get(f"{base}/api/v1/users/d/recommendations").status_code == 404
        body = httpx.get(f"{base}/api/v1/users/c/recommendations", params={"k": 6}).json()
        assert all("d" not in r.get("user_ids", []) for i in body["items"] for r in i["reasons"])

        # reload under load: a new checkpoint is swapped in, no request fails
        snapshot = read_snapshot(settings.resolved_snapshot_dir)
        ckpt = checkpoint_for(snapshot, sign=-1.0)
        ckpt.created_at = "2099-01-01T00:00:00+00:00"
        save_checkpoint(ckpt, settings.resolved_checkpoint_path)
        statuses: list[int | str] = []  # a status code, or the transport error's name
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=base) as http:
                while not stop.is_set():
                    try:
                        response = http.get("/api/v1/users/a/recommendations")
                    except httpx.TransportError as exc:
                        statuses.append(type(exc).__name__)
                    else:
                        statuses.append(response.status_code)

        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            for _ in range(5):
                reload = httpx.post(f"{base}/api/v1/admin/reload", headers=KEY, timeout=30)
                assert reload.status_code == 200, reload.text
        finally:
            stop.set()
            for w in workers:
                w.join()
        assert statuses and set(statuses) == {200}
        assert httpx.get(f"{base}/health").json()["model_version"].startswith("lightgcn@2099")
        assert "p2" not in _items(base, "a")  # live events survive reloads
        assert httpx.get(f"{base}/api/v1/users/d/recommendations").status_code == 404
    exported = export(settings.resolved_sqlite_path, tmp_path / "after")
    assert "d" not in exported.user_index and "n1" in exported.user_index
