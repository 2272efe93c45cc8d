"""Routes whose parameters are resolved in one step: the hot read paths.

FastAPI resolves a request's parameters one by one, re-inspecting each one's annotation on
every request, and solves each dependency as a tree of its own; on the recommendations route
(a path parameter, eight query parameters, three dependencies) that was ~0.3 ms of CPU per
request, as much as the model's ranking (``docs/serving.md``). A :class:`OneStepRoute` keeps
the declared signature (so the OpenAPI schema is FastAPI's own, unchanged) but answers with:

* its dependencies resolved by the request-only functions in :data:`RESOLVERS` (reading
  ``app.state`` and, for access control, one header), in declaration order;
* its path and query parameters validated together by one pydantic model built from the same
  declarations (same constraints, defaults and errors: a 422 in FastAPI's format, each entry
  at ``(location, name)``, path before query);
* the endpoint called with them; it must be ``async def`` and return a ``Response``.

When ``app.dependency_overrides`` is not empty (tests replacing dependencies), requests take
FastAPI's own resolution, which honours overrides; ``tests/api/test_one_step.py`` checks both
paths answer alike. Only dependencies declared on the route or in its signature are resolved:
declare them there, not on the router or where it is included (the test checks the app's
routes for that too).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError, create_model

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


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one route resolves a request."""

    #: (parameter name or None for a parameterless dependency, resolver), in order.
    dependencies: tuple[tuple[str | None, Resolver], ...]
    #: (field name, alias) of path and of query parameters.
    path: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    #: Field name -> the location FastAPI reports errors at (``("query", "k")``).
    locations: dict[str, tuple[str, str]]
    params: type[BaseModel]

    async def arguments(self, request: Request) -> dict[str, Any]:
        """The endpoint's arguments for ``request``: dependencies first (an error there, such
        as a 401, is raised before any parameter is looked at), then the parameters.

        Raises:
            RequestValidationError: every invalid parameter, as FastAPI reports it.
        """
        values: dict[str, Any] = {}
        for name, resolve in self.dependencies:
            value = await resolve(request)
            if name is not None:
                values[name] = value
        values.update(self.parameters(request))
        return values

    def parameters(self, request: Request) -> dict[str, Any]:
        """The validated path and query parameters of ``request``.

        Raises:
            RequestValidationError: every invalid parameter, as FastAPI reports it.
        """
        given = request.path_params
        data = {name: given[alias] for name, alias in self.path}
        query = request.query_params
        for name, alias in self.query:
            if alias in query:
                data[name] = query[alias]
        try:
            return self.params.model_validate(data).__dict__
        except ValidationError as exc:
            raise RequestValidationError(
                [
                    {**e, "loc": (*self.locations[str(e["loc"][0])], *e["loc"][1:])}
                    for e in exc.errors(include_url=False)
                ]
            ) from None


def _plan(route: APIRoute) -> _Plan:
    """The one-step plan of ``route``.

    Raises:
        TypeError: naming what the route declares that one step cannot resolve.
    """
    where = f"{route.path} ({route.name})"
    if not inspect.iscoroutinefunction(route.endpoint):
        raise TypeError(f"{where}: a one-step endpoint must be `async def`")
    returns = inspect.signature(route.endpoint, eval_str=True).return_annotation
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        raise TypeError(f"{where}: a one-step endpoint must return a Response")
    dependant = route.dependant
    unsupported = [
        kind
        for kind, present in (
            ("header parameters", dependant.header_params),
            ("cookie parameters", dependant.cookie_params),
            ("a body", dependant.body_params),
            ("a Request parameter", dependant.request_param_name),
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
    fields = [*dependant.path_params, *dependant.query_params]
    params = create_model(  # type: ignore[call-overload]
        f"{route.name}_params", **{f.name: (f.field_info.annotation, f.field_info) for f in fields}
    )
    return _Plan(
        tuple(dependencies),
        tuple((f.name, f.alias) for f in dependant.path_params),
        tuple((f.name, f.alias) for f in dependant.query_params),
        {f.name: (f.field_info.in_.value, f.alias) for f in fields},  # type: ignore[attr-defined]
        params,
    )


class OneStepRoute(APIRoute):
    """An ``APIRoute`` that resolves a request's parameters in one step (module docstring).

    Raises:
        TypeError: when built, if the route declares what one step cannot resolve.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()  # FastAPI's: honours dependency overrides
        plan = _plan(self)
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await general(request)
            response: Response = await endpoint(**await plan.arguments(request))
            return response

        return handle
