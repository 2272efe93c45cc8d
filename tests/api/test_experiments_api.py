"""Experiments through the real server (a uvicorn process on a SQLite store): create with the
key, assignment and knobs applied on recommendations and feeds, the variant in every
response, per-variant counters, attributed events in the report, stop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import httpx

from gnn.checkpoint import save_checkpoint
from graph.snapshot import read_snapshot
from serving.experiments import Experiment, Variant, assign
from tests.api.servers import serve_env, servers
from tests.api.social_graph import API_KEY, checkpoint_for, make_settings

KEY: Final[dict[str, str]] = {"X-API-Key": API_KEY}
API: Final[str] = "/api/v1"


def body(neg: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "flip",
        "variants": [
            {"name": "control", "share": 0.5},
            {"name": "neg", "share": 0.5, "checkpoint": str(neg), "feed_cap_mode": "drop"},
        ],
    } | extra


def test_an_experiment_end_to_end(tmp_path: Path) -> None:
    make_settings(tmp_path)
    neg = tmp_path / "neg.pt"
    save_checkpoint(checkpoint_for(read_snapshot(tmp_path / "snapshot"), sign=-1.0), neg)
    env = serve_env(tmp_path) | {"SOCIALREC_SERVE_LOG_FLUSH_S": "0.1"}
    with servers(env, 1) as (server,):
        base = server.base + API
        assert httpx.post(f"{base}/experiments", json=body(neg), timeout=30).status_code == 401
        bad = body(neg)
        bad["variants"][0]["share"] = 0.4
        answer = httpx.post(f"{base}/experiments", json=bad, headers=KEY, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "variants"]
        assert "sum to 1" in answer.json()["detail"][0]["msg"]
        missing = body(tmp_path / "nope.pt")
        answer = httpx.post(f"{base}/experiments", json=missing, headers=KEY, timeout=30)
        assert answer.status_code == 422 and "nope.pt" in answer.text

        created = httpx.post(f"{base}/experiments", json=body(neg), headers=KEY, timeout=30)
        assert created.status_code == 201, created.text
        assert created.json()["control"] == "control" and created.json()["salt"] == "flip"
        again = httpx.post(f"{base}/experiments", json=body(neg), headers=KEY, timeout=30)
        assert again.status_code == 409
        listed = httpx.get(f"{base}/experiments", timeout=30).json()["experiments"]
        assert [e["name"] for e in listed] == ["flip"]

        experiment = Experiment(
            "flip", (Variant("control", 0.5), Variant("neg", 0.5, checkpoint=str(neg)))
        )
        served: dict[str, dict[str, Any]] = {}
        for user in "abcde":
            answer = httpx.get(f"{base}/users/{user}/recommendations?k=2", timeout=30)
            assert answer.status_code == 200, answer.text
            served[user] = answer.json()
            assert served[user]["variant"] == assign(experiment, user)
            assert served[user]["experiment"] == "flip"
        variants = {u: s["variant"] for u, s in served.items()}
        assert set(variants.values()) == {"control", "neg"}, variants  # both arms are used
        # The knob is applied: a's top item under the served model is p2; negated, p6.
        top_a = served["a"]["items"][0]["item_id"]
        assert top_a == ("p2" if variants["a"] == "control" else "p6")

        feed = httpx.post(
            f"{base}/feed/rank",
            json={"user_id": "b", "candidates": [{"item_id": "p1"}, {"item_id": "p6"}]},
            timeout=30,
        )
        assert feed.status_code == 200 and feed.json()["variant"] == variants["b"]

        clicker = next(u for u in "abcde" if variants[u] == "neg")
        item = served[clicker]["items"][0]["item_id"]
        events = {
            "events": [
                {
                    "user_id": clicker,
                    "item_id": item,
                    "kind": "click",
                    "serve_id": served[clicker]["serve_id"],
                }
            ]
        }
        posted = httpx.post(f"{base}/events", json=events, headers=KEY, timeout=30)
        assert posted.status_code == 200 and posted.json()["attributed"] == 1, posted.text

        report = httpx.get(f"{base}/experiments/flip/report", timeout=60)
        assert report.status_code == 200, report.text
        rows = {(m["variant"], m["segment"]): m for m in report.json()["metrics"]}
        for name in ("control", "neg"):
            users = [u for u in "abcde" if variants[u] == name]
            row = rows[(name, "all")]
            assert row["users"] == len(users)
            feed_items = len(feed.json()["items"]) if "b" in users else 0
            assert row["impressions"] == sum(len(served[u]["items"]) for u in users) + feed_items
        assert rows[("neg", "all")]["clicks"] == 1 and rows[("control", "all")]["clicks"] == 0
        assert any(c["metric"] == "ctr" for c in report.json()["comparisons"])
        assert "Fixed-horizon" in report.json()["caveat"]
        assert httpx.get(f"{base}/experiments/none/report", timeout=30).status_code == 404

        metrics = httpx.get(f"{server.base}/metrics", timeout=30).text
        counted = re.search(
            r'socialrec_experiment_serves_total\{experiment="flip",surface="rec",'
            r'variant="neg"\} (\d+)',
            metrics,
        )
        assert counted and int(counted.group(1)) == list(variants.values()).count("neg")
        attributed = re.search(
            r'socialrec_experiment_attributed_events_total\{experiment="flip",kind="click",'
            r'variant="neg"\} (\d+)',
            metrics,
        )
        assert attributed and int(attributed.group(1)) == 1, metrics
        assert 'attributed_events_total{experiment="flip",kind="click",variant="control"}' not in (
            metrics
        )

        stopped = httpx.post(f"{base}/experiments/flip/stop", headers=KEY, timeout=30)
        assert stopped.status_code == 200 and stopped.json()["active"] is False
        after = httpx.get(f"{base}/users/a/recommendations?k=2", timeout=30).json()
        assert "variant" not in after and after["items"][0]["item_id"] == "p2"
