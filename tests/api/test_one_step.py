"""One-step routes (api/one_step.py) answer exactly as FastAPI's own parameter resolution."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Response
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.deps import get_holder
from api.one_step import OneStepRoute
from serving.settings import Settings

URL = "/api/v1/users/{}/recommendations"

#: Valid and invalid requests: every parameter, bounds, types, repeats, empty values.
QUERIES = [
    "",
    "?k=2",
    "?k=4&exclude_seen=false",
    "?k=1&k=3",
    "?k=5",
    "?k=0",
    "?k=abc",
    "?k=",
    "?k=2.5",
    "?min_price=-1&max_price=x",
    "?min_price=3&max_price=1",
    "?category=" + "c" * 257,
    "?category=shoes",
    "?region=nowhere",
    "?in_stock_only=yes&exclude_seen=0",
    "?in_stock_only=maybe",
    "?fallback=popular",
    "?fallback=other&k=-1",
    "?unknown=1",
]
USERS = ["u1", "u2", "u3", "nobody", "x" * 257, "a%2Fb"]


def _general(app: FastAPI) -> None:
    """Send ``app``'s requests through FastAPI's own resolution (any override does)."""
    app.dependency_overrides[get_holder] = get_holder


def _answer(client: TestClient, path: str, headers: dict[str, str] | None = None) -> object:
    response = client.get(path, headers=headers)
    body = response.json()
    if isinstance(body, dict):
        body.pop("serve_id", None)  # new per serve
    return response.status_code, body


def _answers(
    settings: Settings, paths: list[str], headers: dict[str, str] | None = None
) -> tuple[list[object], list[object]]:
    app = create_app(settings)
    with TestClient(app) as client:
        fast = [_answer(client, p, headers) for p in paths]
        _general(app)
        general = [_answer(client, p, headers) for p in paths]
    return fast, general


def test_recommendations_answer_as_fastapi_resolves(settings: Settings) -> None:
    paths = [URL.format(u) + q for u in USERS for q in QUERIES]
    fast, general = _answers(settings, paths)
    assert fast == general
    statuses = {status for status, _ in fast}  # type: ignore[misc]
    assert {200, 404, 422} <= statuses  # the comparison covered answers and errors


@pytest.mark.parametrize("key", [None, "wrong", "k3y"])
def test_read_key_checked_as_fastapi_does(settings: Settings, key: str | None) -> None:
    keyed = settings.model_copy(update={"api_key": SecretStr("k3y"), "read_requires_key": True})
    headers = None if key is None else {"X-API-Key": key}
    paths = [URL.format("u1") + q for q in ("?k=2", "?k=abc")]
    fast, general = _answers(keyed, paths, headers)
    assert fast == general
    expected = {None: 401, "wrong": 403, "k3y": 200}[key]
    assert fast[0][0] == expected  # type: ignore[index]


def test_not_loaded_is_503_as_before(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no `with`: the lifespan does not run
    response = client.get(URL.format("u1"))
    assert response.status_code == 503
    assert response.json() == {"detail": "the model is not loaded"}


def test_every_one_step_route_resolves_what_it_declares(settings: Settings) -> None:
    contexts = [
        c
        for c in iter_route_contexts(create_app(settings).routes)
        if isinstance(c.original_route, OneStepRoute)
    ]
    assert contexts
    for context in contexts:
        declared = [d.call for d in context.original_route.dependant.dependencies]
        assert [d.call for d in context.dependant.dependencies] == declared, context.path


def _route(endpoint: object, **kwargs: object) -> None:
    router = APIRouter(route_class=OneStepRoute)
    router.add_api_route("/x/{user_id}", endpoint, **kwargs)  # type: ignore[arg-type]


def _sync(user_id: str) -> Response:
    return Response()


async def _header(user_id: str, h: Annotated[str | None, Header()] = None) -> Response:
    return Response()


async def _not_response(user_id: str) -> dict[str, str]:
    return {}


async def _other() -> str:
    return ""


async def _dependency(user_id: str, x: Annotated[str, Depends(_other)]) -> Response:
    return Response()


def test_unsupported_declarations_fail_when_built() -> None:
    with pytest.raises(TypeError, match="must be `async def`"):
        _route(_sync)
    with pytest.raises(TypeError, match="header parameters"):
        _route(_header)
    with pytest.raises(TypeError, match="must return a Response"):
        _route(_not_response)
    with pytest.raises(TypeError, match="no one-step resolver"):
        _route(_dependency)
