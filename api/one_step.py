"""Routes whose valid requests are resolved in one step: the hot paths.

FastAPI resolves a request's parameters one by one, re-inspecting each one's annotation on
every request, and solves each dependency as a tree of its own; on the recommendations route
(a path parameter, eight query parameters, three dependencies) that was ~0.3 ms of CPU per
request, as much as the model's ranking (``docs/serving.md``). A :class:`OneStepRoute` keeps
the declared signature (so the OpenAPI schema is FastAPI's own, unchanged) and answers a
request with:

* a JSON body (if the route takes one) parsed as FastAPI parses it, first;
* its dependencies resolved by the request-only functions in :data:`RESOLVERS` (reading
  ``app.state`` and, for access control, one header), in declaration order: a 401 or 503
  they raise is the answer, as in FastAPI;
* its path, query and header parameters validated together by one pydantic model built from
  the same declarations, and the body by its model;
* the endpoint called with them (a plain ``def`` in the threadpool, as FastAPI does).

A request that one step does not take as valid (a parameter or body that fails validation,
a body that is not ``application/json`` text) is answered by FastAPI's own resolution, so every
error keeps FastAPI's exact answer; so is every request while ``app.dependency_overrides`` is
not empty (tests replacing dependencies). ``tests/api/test_one_step.py`` checks both paths
answer alike. Only dependencies declared on the route or in its signature are resolved:
declare them there, not on the router or where it is included (the test checks the app's
routes for that too).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from starlette.concurrency import run_in_threadpool

from api.auth import API_KEY_HEADER, read_access
from api.deps import current_state, get_experiments, get_settings

Resolver = Callable[[Request], Awaitable[object]]


async def _read_access(request: Request) -> None:
    await read_access(await get_settings(request), request.headers.get(API_KEY_HEADER))


#: The dependencies a one-step route may declare, each with a function of the request alone
#: that does what FastAPI would do with it.
RESOLVERS: Final[dict[Callable[..., object], Resolver]] = {
    read_access: _read_access,
    current_state: current_state,
    get_experiments: get_experiments,
    get_settings: get_settings,
}

#: The content type of bodies read in one step; others are left to FastAPI's rules.
JSON_TYPE: Final[str] = "application/json"


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one route resolves a request in one step."""

    #: (parameter name or None for a parameterless dependency, resolver), in order.
    dependencies: tuple[tuple[str | None, Resolver], ...]
    #: Aliases (names in the request) of the path, query and header parameters.
    path: tuple[str, ...]
    query: tuple[str, ...]
    headers: tuple[str, ...]
    params: type[BaseModel]
    #: (parameter name, validator) of the JSON body, if the route takes one.
    body: tuple[str, TypeAdapter[Any]] | None

    async def arguments(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments for ``request``, or ``None`` when one step does not take
        it as valid (FastAPI's resolution then answers it).

        Raises:
            HTTPException: what a dependency raises (401, 403, 503), or 413 for a body over
                the limit, as FastAPI would.
        """
        parsed: Any = None
        if self.body is not None:
            parsed = await _json(request)
            if parsed is None:
                return None
        values: dict[str, Any] = {}
        for name, resolve in self.dependencies:
            value = await resolve(request)
            if name is not None:
                values[name] = value
        given = request.path_params
        data = {alias: given[alias] for alias in self.path}  # the model validates by alias
        for source, aliases in (
            (request.query_params, self.query),
            (request.headers, self.headers),
        ):
            for alias in aliases:
                if alias in source:
                    data[alias] = source[alias]
        try:
            values.update(self.params.model_validate(data).__dict__)
            if self.body is not None:
                values[self.body[0]] = self.body[1].validate_python(parsed)
        except ValidationError:
            return None
        return values


async def _json(request: Request) -> Any:
    """The parsed JSON body of ``request``; ``None`` if it is not plain JSON text."""
    if request.headers.get("content-type") != JSON_TYPE:
        return None
    try:
        raw = await request.body()
        return json.loads(raw) if raw else None
    except HTTPException:  # the body limit's 413
        raise
    except Exception:  # not JSON, or the client went away: FastAPI's answer
        return None


def _is_model(annotation: object) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _plan(route: APIRoute) -> _Plan:
    """The one-step plan of ``route``.

    Raises:
        TypeError: naming what the route declares that one step cannot resolve.
    """
    where = f"{route.path} ({route.name})"
    returns = inspect.signature(route.endpoint, eval_str=True).return_annotation
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        raise TypeError(f"{where}: a one-step endpoint must return a Response")
    dependant = route.dependant
    body = dependant.body_params
    model = body[0].field_info.annotation if len(body) == 1 else None
    one_model = _is_model(model) and not getattr(body[0].field_info, "embed", False)
    fields = [*dependant.path_params, *dependant.query_params, *dependant.header_params]
    unsupported = [
        kind
        for kind, present in (
            ("cookie parameters", dependant.cookie_params),
            ("a Request parameter", dependant.request_param_name),
            ("a body other than one JSON model", body and not one_model),
            (  # FastAPI looks these up under other names than the alias
                "a validation alias other than the alias",
                any(f.field_info.validation_alias not in (None, f.alias) for f in fields),
            ),
        )
        if present
    ]
    if unsupported:
        raise TypeError(f"{where}: a one-step endpoint cannot declare {', '.join(unsupported)}")
    dependencies = []
    for sub in dependant.dependencies:
        resolver = RESOLVERS.get(sub.call) if sub.call is not None else None
        if resolver is None:
            raise TypeError(f"{where}: no one-step resolver for the dependency {sub.call!r}")
        dependencies.append((sub.name, resolver))
    params = create_model(  # type: ignore[call-overload]
        f"{route.name}_params", **{f.name: (f.field_info.annotation, f.field_info) for f in fields}
    )
    return _Plan(
        tuple(dependencies),
        tuple(f.alias for f in dependant.path_params),
        tuple(f.alias for f in dependant.query_params),
        tuple(f.alias for f in dependant.header_params),
        params,
        (body[0].name, TypeAdapter(model)) if body and model is not None else None,
    )


class OneStepRoute(APIRoute):
    """An ``APIRoute`` that resolves valid requests in one step (module docstring).

    Raises:
        TypeError: when built, if the route declares what one step cannot resolve.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()  # FastAPI's own resolution
        plan = _plan(self)
        endpoint = self.endpoint
        is_async = inspect.iscoroutinefunction(endpoint)

        async def handle(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await general(request)
            values = await plan.arguments(request)
            if values is None:
                return await general(request)
            if is_async:
                response: Response = await endpoint(**values)
            else:
                response = await run_in_threadpool(endpoint, **values)
            return response

        return handle
