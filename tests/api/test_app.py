"""The app with its real lifespan, on the tiny snapshot + checkpoint of conftest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_experiments
from gnn.checkpoint import save_checkpoint
from serving.experiment_serving import Arm, ExperimentServing
from serving.experiments import ExperimentRegistry
from serving.recommender import RecommenderService
from serving.settings import Settings
from serving.social import SocialRecommender
from serving.state import AppState, StateLoadError
from tests.api.tiny_model import tiny_checkpoint, tiny_snapshot

URL = "/api/v1/users/{}/recommendations"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _items(client: TestClient, user: str, **params: object) -> list[str]:
    response = client.get(URL.format(user), params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == user
    return [item["item_id"] for item in body["items"]]


def test_recommendations_exclude_seen_by_default(client: TestClient) -> None:
    response = client.get(URL.format("u1"), params={"k": 3})
    similar = [{"type": "similar_to", "item_ids": ["i2"]}]  # u1's own item, cosine 1
    body = response.json()
    assert len(body.pop("serve_id")) == 32  # the answer's id in the serve log
    assert body == {
        "user_id": "u1",
        "strategy": "personalized",
        "items": [
            {"item_id": "i1", "position": 1, "score": 1.0, "model_score": 1.0, "reasons": similar},
            {"item_id": "i3", "position": 2, "score": 0.5, "model_score": 0.5, "reasons": similar},
            {"item_id": "i4", "position": 3, "score": 0.0, "model_score": 0.0, "reasons": []},
        ],
    }


def test_recommendations_include_seen(client: TestClient) -> None:
    assert _items(client, "u1", k=3, exclude_seen="false") == ["i1", "i2", "i3"]


def test_k_default_and_candidate_cap(client: TestClient) -> None:
    # u2 has no interactions but a friend (u1): social cold start from u1's vector (1, 0).
    assert _items(client, "u2", k=4) == ["i1", "i2", "i3", "i4"]
    assert _items(client, "u3") == []  # u3 saw everything
    assert len(_items(client, "u1", exclude_seen="false")) == 4  # default k = min(10, max_k)


@pytest.mark.parametrize("k", [0, -1, 5, "x"])
def test_k_out_of_bounds_is_422(client: TestClient, k: object) -> None:
    response = client.get(URL.format("u1"), params={"k": k})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "k"]


def test_k_above_max_k_names_the_bound(client: TestClient) -> None:
    detail = client.get(URL.format("u1"), params={"k": 5}).json()["detail"][0]
    assert detail["msg"] == "Input should be less than or equal to 4"


def test_unknown_user_is_404(client: TestClient) -> None:
    response = client.get(URL.format("nobody"))
    assert response.status_code == 404
    assert response.json() == {"detail": "user 'nobody' is not known to the served model"}


def test_health(client: TestClient, settings: Settings) -> None:
    snapshot = tiny_snapshot()
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model_name"] == "lightgcn"
    assert body["model_version"].startswith("lightgcn@")
    assert body["model_version"].endswith(snapshot.fingerprint[:12])
    assert body["snapshot"]["fingerprint"] == snapshot.fingerprint
    assert body["snapshot"]["format_version"] == 1
    assert body["snapshot"]["source"] == "test"
    assert body["snapshot"]["created_at"]
    assert body["counts"] == {"users": 3, "items": 5, "interactions": 7, "social_edges": 2}


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/health",
        "/api/v1/users/{user_id}/recommendations",
        "/api/v1/users/{user_id}/profile",
        "/api/v1/users/{user_id}",
        "/api/v1/feed/rank",
        "/api/v1/events",
        "/api/v1/admin/reload",
    } <= set(paths)
    assert "/ceiling" not in paths  # the benchmark's ceiling is not part of the API


def test_ceiling_is_a_constant_json(client: TestClient) -> None:
    response = client.get("/ceiling")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_body_over_limit_is_413(settings: Settings) -> None:
    app = create_app(settings)

    @app.post("/echo")
    def echo(payload: dict[str, str]) -> dict[str, str]:
        return payload

    with TestClient(app) as client:
        assert client.post("/echo", json={"a": "b"}).json() == {"a": "b"}
        response = client.post("/echo", json={"a": "b" * 100})
    assert response.status_code == 413


def test_unhandled_error_is_clean_500(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error; see the server log"}
    assert "secret" not in response.text


def test_state_missing_before_lifespan_is_503(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no `with`: the lifespan does not run
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"detail": "the model is not loaded"}


def test_serving_dependency_can_be_overridden(settings: Settings, tmp_path: Path) -> None:
    snapshot = tiny_snapshot()
    ckpt = tiny_checkpoint(snapshot)
    ckpt.user_embeddings = -ckpt.user_embeddings  # u1 now prefers i5
    flipped = RecommenderService.from_artifacts(snapshot, ckpt)

    class Flipped(ExperimentServing):
        def arm(self, state: AppState, user_id: str) -> Arm:
            social = SocialRecommender(state.live, flipped)
            return replace(super().arm(state, user_id), recommender=flipped, social=social)

    app = create_app(settings)
    registry = ExperimentRegistry(tmp_path / "experiments.json")
    app.dependency_overrides[get_experiments] = lambda: Flipped(registry)
    with TestClient(app) as client:
        assert _items(client, "u1", k=2) == ["i5", "i4"]


def test_missing_checkpoint_fails_startup(settings: Settings, tmp_path: Path) -> None:
    bad = settings.model_copy(update={"checkpoint_path": tmp_path / "absent.pt"})
    app = create_app(bad)
    with pytest.raises(StateLoadError, match=r"absent\.pt does not exist; train a model"):
        TestClient(app).__enter__()


def test_mismatched_checkpoint_fails_startup(settings: Settings, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tiny_snapshot())
    ckpt.user_ids = ["u1", "u2", "zz"]
    path = save_checkpoint(ckpt, tmp_path / "other.pt")
    bad = settings.model_copy(update={"checkpoint_path": path})
    app = create_app(bad)
    with pytest.raises(StateLoadError, match=r"disagree on users.*retrain"):
        TestClient(app).__enter__()


def test_serving_threads_applied(settings: Settings) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        with TestClient(create_app(settings.model_copy(update={"serving_threads": 1}))):
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
