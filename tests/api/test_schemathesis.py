"""Property-based tests of every operation in the app's OpenAPI schema (schemathesis).

Real servers (uvicorn on loopback, each on its own copy of the small social graph of
``social_graph``, an API key configured) answer requests that carry the key, so write and admin
endpoints run too: one server the known-good requests, another the generated ones, so no test
depends on what ran before it. Every response must be a non-5xx whose status, content type,
headers and body conform to the schema. Work per request is bounded by the settings, examples
per operation by ``MAX_EXAMPLES``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from serving.settings import Settings
from tests.api.social_graph import API_KEY, make_settings
from tests.bolt_server import free_port
from tests.server_process import ServerProcess, python_server

MAX_EXAMPLES: Final[int] = 20
#: No 5xx; status code, content type, headers and body as the schema documents them. Left
#: out: positive/negative data acceptance, which expect every schema-valid request to be
#: accepted, while the API rejects semantically invalid values (an unknown category or
#: region, a plan with both k and budget) with documented 400/422 answers.
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Bounds that keep every generated request cheap on the tiny graph.
LIMITS: Final[dict[str, str]] = {
    "MAX_SIMULATIONS": "200",
    "MAX_CANDIDATES": "20",
    "MAX_PLAN_K": "5",
    "MAX_RR_SETS": "1000",
    "MAX_EVENTS": "50",
}

#: Requests that run the reach and planning kernels once (numba compiles them on first use,
#: then loads them from its disk cache), whichever server or test gets there first.
WARM_UP: Final[list[tuple[str, dict[str, object]]]] = [
    ("/api/v1/reach", {"seeds": ["a"], "simulations": 10}),
    ("/api/v1/campaigns/plan", {"k": 1, "simulations": 10}),
]


def _warm_up(url: str, body: dict[str, object], tries: int = 3) -> None:
    """Send ``body`` until it answers 200: a cold compile can use up the first request's reach
    time limit (422 ``work_limit``), after which the kernels are loaded and fast."""
    for _ in range(tries):
        response = httpx.post(url, json=body, headers={"X-API-Key": API_KEY}, timeout=600)
        if response.status_code == 200:
            return
        assert response.status_code == 422 and "work_limit" in response.text, response.text
    pytest.fail(f"{url} did not answer 200 in {tries} tries: {response.text}")


@contextmanager
def _serve(work: Path) -> Iterator[ServerProcess]:
    """A real server on the small social graph, written afresh under ``work``."""
    make_settings(work)
    port = free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        SOCIALREC_WORK_DIR=str(work),
        SOCIALREC_API_KEY=API_KEY,
        SOCIALREC_PORT=str(port),
        SOCIALREC_LOG_LEVEL="WARNING",
        **{f"SOCIALREC_{name}": value for name, value in LIMITS.items()},
    )
    code = (
        "from socialrec.commands.serve import run_server; from serving.settings import Settings; "
        "run_server(Settings(_env_file=None))"
    )
    with python_server(code, port, env) as running:
        for path, body in WARM_UP:
            _warm_up(running.base + path, body)
        yield running
    print(running.output[-5000:])  # shown by pytest when a test failed


@pytest.fixture(scope="module")
def known_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server of the known-good requests only (generated ones may delete their users)."""
    with _serve(tmp_path_factory.mktemp("known")) as running:
        yield running


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server of the generated requests: any state they leave is valid for the next."""
    with _serve(tmp_path_factory.mktemp("generated")) as running:
        yield running


#: Requests with known users and items, so every operation's success answer is validated too
#: (generated ids are mostly unknown: 404). (method, template, url, JSON body). They run in any
#: order on their own server: each write touches a user no other request names (``n1`` is
#: new, ``g`` is deleted), see ``test_known_good_requests_do_not_depend_on_each_other``.
KNOWN_GOOD: Final[list[tuple[str, str, str, object]]] = [
    ("GET", "/health", "/health", None),
    ("GET", "/metrics", "/metrics", None),
    ("GET", "/api/v1/users/{user_id}/recommendations", "/api/v1/users/a/recommendations", None),
    ("GET", "/api/v1/users/{user_id}/profile", "/api/v1/users/c/profile", None),
    ("POST", "/api/v1/reach", "/api/v1/reach", {"seeds": ["a", "d"], "item_id": "p2"}),
    ("POST", "/api/v1/campaigns/plan", "/api/v1/campaigns/plan", {"k": 2, "simulations": 20}),
    (
        "POST",
        "/api/v1/campaigns",
        "/api/v1/campaigns",
        {"kols": ["a", "d"], "item_id": "p2", "simulations": 20},
    ),
    ("GET", "/api/v1/influencers", "/api/v1/influencers?k=2&item_id=p2", None),
    (
        "POST",
        "/api/v1/feed/rank",
        "/api/v1/feed/rank",
        {"user_id": "a", "candidates": [{"item_id": "p2", "author_id": "b", "post_id": "x"}]},
    ),
    (
        "POST",
        "/api/v1/events",
        "/api/v1/events",
        {"users": [{"user_id": "n1"}], "events": [{"user_id": "n1", "item_id": "p1"}]},
    ),
    ("DELETE", "/api/v1/users/{user_id}", "/api/v1/users/g", None),
    ("POST", "/api/v1/admin/reload", "/api/v1/admin/reload", None),
]

#: The known-good requests that change a user, and that user (``reload`` changes none).
USER_WRITES: Final[dict[tuple[str, str], str]] = {
    ("POST", "/api/v1/events"): "n1",
    ("DELETE", "/api/v1/users/g"): "g",
}

# The schema does not depend on settings or loaded state, so it is built from an app that is
# never started (``schemathesis.pytest.from_fixture`` does not run under pytest 9).
_OFFLINE_SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
schema = schemathesis.openapi.from_dict(create_app(_OFFLINE_SETTINGS).openapi())


def test_known_good_requests_do_not_depend_on_each_other() -> None:
    for method, _, url, body in KNOWN_GOOD:
        named = set(re.findall(r"\w+", f"{url} {json.dumps(body)}"))
        own = {USER_WRITES.get((method, url))}
        assert not (named & set(USER_WRITES.values())) - own, f"{method} {url}: another's user"


@pytest.mark.parametrize(("method", "template", "url", "body"), KNOWN_GOOD)
def test_success_answers_conform(
    known_server: ServerProcess, method: str, template: str, url: str, body: object
) -> None:
    response = httpx.request(
        method, known_server.base + url, json=body, headers={"X-API-Key": API_KEY}, timeout=30
    )
    assert response.status_code == 200, response.text
    schema[template][method].validate_response(response)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_operation_conforms_to_its_schema(case: Case, fuzz_server: ServerProcess) -> None:
    case.headers = {**(case.headers or {}), "X-API-Key": API_KEY}
    case.call_and_validate(base_url=fuzz_server.base, timeout=30, checks=CHECKS)
