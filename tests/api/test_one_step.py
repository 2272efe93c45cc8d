"""One-step routes (api/one_step.py) answer exactly as FastAPI's own resolution does, and
valid requests skip it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import APIRouter, Cookie, Depends, FastAPI, Query, Response
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import AliasChoices, SecretStr

from api.app import create_app
from api.deps import get_holder
from api.one_step import OneStepRoute
from serving.settings import Settings

URL = "/api/v1/users/{}/recommendations"
FEED = "/api/v1/feed/rank"

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


Call = tuple[str, str, dict[str, object]]  # method, path, keyword arguments of the client


def _answer(client: TestClient, call: Call) -> tuple[int, object]:
    method, path, kwargs = call
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body.pop("serve_id", None)  # new per serve
    return response.status_code, body


def _answers(
    settings: Settings, calls: list[Call]
) -> tuple[list[tuple[int, object]], list[tuple[int, object]]]:
    """Each call's (status, body) answered in one step, then by FastAPI's resolution."""
    app = create_app(settings)
    with TestClient(app) as client:
        fast = [_answer(client, c) for c in calls]
        _general(app)
        general = [_answer(client, c) for c in calls]
    return fast, general


def _gets(paths: list[str], headers: dict[str, str] | None = None) -> list[Call]:
    return [("GET", p, {"headers": headers}) for p in paths]


def test_recommendations_answer_as_fastapi_resolves(settings: Settings) -> None:
    fast, general = _answers(settings, _gets([URL.format(u) + q for u in USERS for q in QUERIES]))
    assert fast == general
    assert {200, 404, 422} <= {status for status, _ in fast}  # answers and errors compared


@pytest.mark.parametrize("key", [None, "wrong", "k3y"])
def test_read_key_checked_as_fastapi_does(settings: Settings, key: str | None) -> None:
    keyed = settings.model_copy(
        update={"api_key": SecretStr("k3y"), "read_requires_key": True, "max_body_bytes": 2000}
    )
    headers = None if key is None else {"X-API-Key": key}
    calls = _gets([URL.format("u1") + q for q in ("?k=2", "?k=abc")], headers)
    authored = _feed_body(candidates=[{"item_id": "i2", "author_id": "u2"}])  # needs the key
    calls.append(("POST", FEED, {"json": authored, "headers": headers}))
    fast, general = _answers(keyed, calls)
    assert fast == general
    expected = {None: 401, "wrong": 403, "k3y": 200}[key]
    assert [fast[0][0], fast[2][0]] == [expected, expected]


def _feed_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "user_id": "u1",
        "candidates": [{"item_id": "i1"}, {"item_id": "i4", "post_id": "p4"}, {"item_id": "i5"}],
    }
    return body | changes


FEED_CALLS: list[dict[str, object]] = [
    {"json": _feed_body()},
    {"json": _feed_body(user_id="nobody", region=None)},
    {"json": _feed_body(candidates=[{"item_id": "i2", "author_id": "u2"}])},  # needs a key
    {"json": _feed_body(region="nowhere", user_id="nobody")},
    {"json": _feed_body(candidates=[])},
    {"json": _feed_body(user_id="")},
    {"json": _feed_body(candidates=[{"item_id": "unknown-item"}])},
    {"json": {"user_id": "u1"}},
    {"json": [1, 2]},
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"content": b"\xff\xfe{}", "headers": {"content-type": "application/json"}},  # not UTF-8
    {"content": json.dumps(_feed_body()).encode(), "headers": {"content-type": "text/plain"}},
    {"content": json.dumps(_feed_body()).encode()},  # no content type
    {
        "content": json.dumps(_feed_body()).encode(),
        "headers": {"content-type": "application/json; charset=utf-8"},
    },
    {"content": b"x" * 5000, "headers": {"content-type": "application/json"}},  # over the limit
]


def test_feed_answers_as_fastapi_resolves(settings: Settings) -> None:
    roomy = settings.model_copy(update={"max_body_bytes": 2000})
    fast, general = _answers(roomy, [("POST", FEED, kwargs) for kwargs in FEED_CALLS])
    assert fast == general
    assert {200, 413, 422, 503} <= {status for status, _ in fast}


def test_valid_requests_skip_fastapi_resolution(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    roomy = settings.model_copy(update={"max_body_bytes": 2000})
    with TestClient(create_app(roomy)) as client:
        assert client.get(URL.format("u1"), params={"k": 2}).status_code == 200
        assert client.post(FEED, json=_feed_body()).status_code == 200
        assert solved == []
        assert client.get(URL.format("u1"), params={"k": 0}).status_code == 422
        assert client.post(FEED, json=_feed_body(candidates=[])).status_code == 422
        assert solved == [URL.format("u1"), FEED]  # FastAPI answered the invalid ones


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
        route = context.original_route
        assert isinstance(route, OneStepRoute)
        declared = [d.call for d in route.dependant.dependencies]
        assert [d.call for d in context.dependant.dependencies] == declared, context.path


def _route(endpoint: object, **kwargs: object) -> None:
    router = APIRouter(route_class=OneStepRoute)
    router.add_api_route("/x/{user_id}", endpoint, **kwargs)  # type: ignore[arg-type]


async def _cookie(user_id: str, c: Annotated[str | None, Cookie()] = None) -> Response:
    return Response()


async def _list_body(user_id: str, body: list[int]) -> Response:
    return Response()


async def _choices(
    user_id: str, q: Annotated[str, Query(validation_alias=AliasChoices("q", "query"))] = ""
) -> Response:
    return Response()


async def _not_response(user_id: str) -> dict[str, str]:
    return {}


async def _other() -> str:
    return ""


async def _dependency(user_id: str, x: Annotated[str, Depends(_other)]) -> Response:
    return Response()


def test_unsupported_declarations_fail_when_built() -> None:
    with pytest.raises(TypeError, match="cookie parameters"):
        _route(_cookie, methods=["GET"])
    with pytest.raises(TypeError, match="a body other than one JSON model"):
        _route(_list_body, methods=["POST"])
    with pytest.raises(TypeError, match="a validation alias other than the alias"):
        _route(_choices, methods=["GET"])
    with pytest.raises(TypeError, match="must return a Response"):
        _route(_not_response)
    with pytest.raises(TypeError, match="no one-step resolver"):
        _route(_dependency)
