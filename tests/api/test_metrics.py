"""``GET /metrics`` and the access log, through the app with its real lifespan, and the JSON
logs of a real server process."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.logging_config import JsonFormatter, configure_logging
from api.observability import UNMATCHED
from gnn.checkpoint import save_checkpoint
from graph.snapshot import read_snapshot
from serving.settings import Settings
from tests.api.social_graph import API_KEY, checkpoint_for, make_settings
from tests.bolt_server import free_port
from tests.server_process import python_server

KEY = {"X-API-Key": API_KEY}
RECS = "/api/v1/users/{user_id}/recommendations"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def scrape(client: TestClient, **headers: str) -> Samples:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_by_route_template(client: TestClient) -> None:
    for user in ("a", "b", "a"):
        assert client.get(f"/api/v1/users/{user}/recommendations").status_code == 200
    assert client.get("/api/v1/users/zz/recommendations").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    samples = scrape(client)
    requests = "socialrec_http_requests_total"
    assert value(samples, requests, method="GET", route=RECS, status="2xx") == 3
    assert value(samples, requests, method="GET", route=RECS, status="4xx") == 1
    assert value(samples, requests, method="GET", route=UNMATCHED, status="4xx") == 1
    latency = "socialrec_http_request_duration_seconds"
    assert value(samples, latency + "_count", method="GET", route=RECS) == 4
    assert value(samples, latency + "_bucket", method="GET", route=RECS, le="+Inf") == 4
    assert value(samples, latency + "_sum", method="GET", route=RECS) > 0
    routes = {dict(labels).get("route") for _, labels in samples}
    assert not any(r and ("/a/" in r or "/zz/" in r or "/no/" in r) for r in routes)


def test_unknown_methods_share_one_label(client: TestClient) -> None:
    for method in ("FOO", "BAR", "QUERY"):
        assert client.request(method, "/metrics").status_code == 405
    samples = scrape(client)
    methods = {dict(labels)["method"] for _, labels in samples if dict(labels).get("route")}
    assert methods == {"OTHER"}  # a scrape is counted after it is rendered
    requests = "socialrec_http_requests_total"
    assert value(samples, requests, method="OTHER", route="/metrics", status="4xx") == 3


def test_unhandled_errors_count_as_5xx(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom/{thing}")
    def boom(thing: str) -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom/x").status_code == 500
        samples = scrape(client)
    requests = "socialrec_http_requests_total"
    assert value(samples, requests, method="GET", route="/boom/{thing}", status="5xx") == 1


def test_model_info_changes_on_reload(client: TestClient, settings: Settings) -> None:
    def served() -> dict[str, str]:
        info = [dict(k[1]) for k in scrape(client) if k[0] == "socialrec_model_info"]
        assert len(info) == 1
        return info[0]

    health = client.get("/health").json()
    before = served()
    assert before["model_version"] == health["model_version"]
    assert before["snapshot_fingerprint"] == health["snapshot"]["fingerprint"]
    ckpt = checkpoint_for(read_snapshot(settings.resolved_snapshot_dir), sign=-1.0)
    ckpt.created_at = "2099-01-01T00:00:00+00:00"
    save_checkpoint(ckpt, settings.resolved_checkpoint_path)
    assert client.post("/api/v1/admin/reload", headers=KEY).status_code == 200
    after = served()
    assert after["model_version"] != before["model_version"]
    assert after["model_version"] == client.get("/health").json()["model_version"]


def test_reach_simulations_are_counted(client: TestClient) -> None:
    name = "socialrec_reach_simulations_total"
    reach = client.post("/api/v1/reach", json={"seeds": ["a"], "simulations": 30, "seed": 1})
    assert reach.status_code == 200, reach.text
    plan = client.post("/api/v1/campaigns/plan", json={"k": 1, "simulations": 20, "seed": 1})
    assert plan.status_code == 200, plan.text
    ranked = client.get("/api/v1/influencers", params={"k": 2, "simulations": 10, "seed": 1})
    assert ranked.status_code == 200, ranked.text
    refused = client.post("/api/v1/reach", json={"seeds": ["zz"], "simulations": 40})
    assert refused.status_code == 404
    samples = scrape(client)
    assert value(samples, name, endpoint="estimate") == 30
    assert value(samples, name, endpoint="plan") == 20
    assert value(samples, name, endpoint="influencers") == 10


def test_each_app_has_its_own_registry(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        first.get("/api/v1/users/a/recommendations")
        first.get("/api/v1/users/a/recommendations")
        second.get("/api/v1/users/a/recommendations")
        requests = "socialrec_http_requests_total"
        labels = {"method": "GET", "route": RECS, "status": "2xx"}
        assert value(scrape(first), requests, **labels) == 2
        assert value(scrape(second), requests, **labels) == 1


def test_metrics_need_the_key_when_reads_do(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, read_requires_key=True))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": "nope"}).status_code == 403
        assert "socialrec_model_info" in {name for name, _ in scrape(client, **KEY)}


def test_access_log_has_the_template_and_no_ids_or_secrets(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="socialrec.access")
    response = client.get("/api/v1/users/a/profile", headers={**KEY, "X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    deleted = client.delete("/api/v1/users/zz", headers=KEY)
    generated = deleted.headers["X-Request-ID"]
    assert len(generated) == 32
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "socialrec.access"]
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "request"
    assert {k: first[k] for k in ("method", "route", "status", "request_id")} == {
        "method": "GET",
        "route": "/api/v1/users/{user_id}/profile",
        "status": 200,
        "request_id": "req-42",
    }
    assert first["duration_ms"] >= 0
    assert (second["method"], second["route"], second["status"]) == (
        "DELETE",
        "/api/v1/users/{user_id}",
        404,
    )
    assert second["request_id"] == generated
    assert not any(API_KEY in line or '"a"' in line or "zz" in line for line in lines)


@pytest.mark.parametrize("given", [b"has space", b"x" * 65, b"", "é".encode(), b'a"b'])
def test_unsafe_request_ids_are_replaced(client: TestClient, given: bytes) -> None:
    response = client.get("/health", headers={"X-Request-ID": given})
    echoed = response.headers["X-Request-ID"]
    assert echoed.encode() != given and len(echoed) == 32


def test_json_formatter_fields_and_exceptions() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        logger.warning("n=%d", 3, extra={"fields": {"route": "/x"}, "color_message": "\x1b[1m"})
        try:
            raise KeyError("k")
        except KeyError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"ts", "level", "logger", "message", "route"}
    assert (first["level"], first["message"], first["route"]) == ("WARNING", "n=3", "/x")
    assert second["level"] == "ERROR" and "KeyError: 'k'" in second["exc"]


def test_configure_logging_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="log level must be"):
        configure_logging("LOUD")


def test_real_server_logs_one_json_line_per_request(tmp_path: Path) -> None:
    make_settings(tmp_path)
    port = free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        SOCIALREC_WORK_DIR=str(tmp_path),
        SOCIALREC_API_KEY=API_KEY,
        SOCIALREC_PORT=str(port),
        SOCIALREC_LOG_LEVEL="INFO",
    )
    code = (
        "from socialrec.commands.serve import run_server; from serving.settings import Settings; "
        "run_server(Settings(_env_file=None))"
    )
    with python_server(code, port, env) as server:
        base = server.base
        assert httpx.get(f"{base}/api/v1/users/b/recommendations").status_code == 200
        event = {"user_id": "b", "item_id": "p3", "kind": "view"}
        posted = httpx.post(f"{base}/api/v1/events", json={"events": [event]}, headers=KEY)
        assert posted.status_code == 200
        assert "socialrec_http_requests_total" in httpx.get(f"{base}/metrics").text
    records = [json.loads(line) for line in server.output.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "socialrec.access"]
    routes = [(r["method"], r["route"], r["status"]) for r in access]
    assert ("GET", RECS, 200) in routes
    assert ("POST", "/api/v1/events", 200) in routes
    assert ("GET", "/metrics", 200) in routes
    assert any(r["message"] == "Application startup complete." for r in records)
    assert API_KEY not in server.output
    assert "/users/b/" not in server.output
