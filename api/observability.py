"""Request metrics (Prometheus) and access logs: one pure ASGI middleware and ``GET /metrics``.

Every HTTP request is timed by :class:`ObservabilityMiddleware` and recorded under its route
*template* (``/api/v1/users/{user_id}/recommendations``, never the raw path: label values stay
few and no user id reaches a metric or a log). Requests that match no route are recorded as
:data:`UNMATCHED`, methods outside :data:`METHODS` as ``OTHER``. Metrics (names as exposed):

``socialrec_http_request_duration_seconds{method, route}``
    Histogram of the time from the request reaching the app to the end of its response.
``socialrec_http_requests_total{method, route, status}``
    Requests by status class (``2xx`` .. ``5xx``); errors are the ``4xx``/``5xx`` series.
``socialrec_model_info{model_name, model_version, snapshot_fingerprint}``
    1 for the model and snapshot being served (changes on ``POST /api/v1/admin/reload``).
``socialrec_reach_simulations_total{endpoint}``
    Monte-Carlo worlds simulated for reach requests (``estimate``, ``plan``, ``influencers``).
``socialrec_experiment_serves_total{experiment, variant, surface}``,
``socialrec_experiment_items_served_total{experiment, variant, surface}``
    Responses (``rec`` or ``feed``) served in an experiment and the items they showed, per
    variant (live dashboards; the report's tests are in ``/api/v1/experiments/{name}/report``).
``socialrec_experiment_attributed_events_total{experiment, variant, kind}``
    Events attributed to those serves (``click``, ``purchase``, ``impression``, ...): with the
    serves above, a live CTR and conversion per variant.
``socialrec_sync_watermark``, ``socialrec_sync_lag``, ``socialrec_sync_seconds_since_success``
    How far this replica has applied the store's change log (see :mod:`serving.sync`):
    the last write applied, writes logged but not applied at the last read, and seconds since
    a read reached the log's head (absent until the first read).
``process_*``
    CPU, memory and file descriptors of the server process.

Each app has its own :class:`prometheus_client.CollectorRegistry`, so apps built side by side
(tests) never share or clash. Every request also logs one ``socialrec.access`` record with
method, route template, status, duration and request id (see :mod:`api.logging_config`); the
request id is the caller's ``X-Request-ID`` when it is a short token, else a new one, and is
echoed in the response. Headers are never logged, so neither is the API key.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import read_access
from serving.state import AppState
from serving.sync import ChangeSync

#: The route label of requests no route matched (404s of unknown paths).
UNMATCHED: Final[str] = "<unmatched>"
#: Methods recorded as themselves; any other method string is recorded as ``OTHER``.
METHODS: Final[frozenset[str]] = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)
REQUEST_ID_HEADER: Final[str] = "X-Request-ID"
#: Latency buckets in seconds: fine below 25 ms, where the serving targets are.
LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_REQUEST_ID: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQUEST_ID_KEY: Final[bytes] = REQUEST_ID_HEADER.lower().encode("latin-1")
_access = logging.getLogger("socialrec.access")


class _ServingCollector:
    """``socialrec_model_info``, read from the serving state at every scrape."""

    def __init__(self, serving: Callable[[], AppState | None]) -> None:
        self._serving = serving

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "socialrec_model_info",
            "The model and snapshot being served (value 1).",
            labels=("model_name", "model_version", "snapshot_fingerprint"),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        state = self._serving()
        if state is not None:
            checkpoint = state.checkpoint
            labels = (checkpoint.model_name, checkpoint.model_version, state.snapshot.fingerprint)
            family.add_metric(labels, 1.0)
        yield family


class _SyncCollector:
    """The replica sync gauges, read from the app's :class:`ChangeSync` at every scrape."""

    def __init__(self, sync: Callable[[], ChangeSync | None]) -> None:
        self._sync = sync

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "socialrec_sync_watermark", "Every logged write up to this number is applied."
            ),
            GaugeMetricFamily(
                "socialrec_sync_lag", "Writes logged but not applied here at the last read."
            ),
            GaugeMetricFamily(
                "socialrec_sync_seconds_since_success",
                "Seconds since a read of the change log reached its head.",
            ),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        watermark, lag, age = self._families()
        sync = self._sync()
        if sync is not None:
            seen = sync.status()
            watermark.add_metric((), seen.watermark)
            if seen.lag is not None:
                lag.add_metric((), seen.lag)
            if seen.since_success_s is not None:
                age.add_metric((), seen.since_success_s)
        yield from (watermark, lag, age)


class Metrics:
    """The Prometheus metrics of one app, in their own registry.

    Args:
        serving: Returns the state being served (``None`` before the lifespan has loaded it).
        sync: Returns the app's change-log sync (``None`` before the lifespan has set it up).
    """

    def __init__(
        self,
        serving: Callable[[], AppState | None],
        sync: Callable[[], ChangeSync | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            "socialrec_http_request_duration_seconds",
            "Request latency by route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._requests = Counter(
            "socialrec_http_requests",
            "Requests by route template and status class.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._simulations = Counter(
            "socialrec_reach_simulations",
            "Monte-Carlo worlds simulated for reach requests.",
            ("endpoint",),
            registry=self.registry,
        )
        self._experiment_serves = Counter(
            "socialrec_experiment_serves",
            "Recommendation and feed responses served in an experiment, by variant.",
            ("experiment", "variant", "surface"),
            registry=self.registry,
        )
        self._experiment_items = Counter(
            "socialrec_experiment_items_served",
            "Items in those responses (impressions), by variant.",
            ("experiment", "variant", "surface"),
            registry=self.registry,
        )
        self._experiment_attributed = Counter(
            "socialrec_experiment_attributed_events",
            "Events (clicks, purchases, impressions, ...) attributed to a variant's serves.",
            ("experiment", "variant", "kind"),
            registry=self.registry,
        )
        self.registry.register(_ServingCollector(serving))
        self.registry.register(_SyncCollector(sync))
        ProcessCollector(registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self._latency.labels(method, route).observe(seconds)
        self._requests.labels(method, route, f"{status // 100}xx").inc()

    def count_simulations(self, endpoint: str, simulations: int) -> None:
        """Add ``simulations`` worlds run by a reach ``endpoint``."""
        self._simulations.labels(endpoint).inc(simulations)

    def count_serve(self, experiment: str, variant: str, surface: str, items: int) -> None:
        """Count one response of ``items`` items served by ``variant`` of ``experiment``."""
        self._experiment_serves.labels(experiment, variant, surface).inc()
        self._experiment_items.labels(experiment, variant, surface).inc(items)

    def count_attributed(self, experiment: str, variant: str, kind: str) -> None:
        """Count one event of ``kind`` attributed to a serve of ``variant`` of ``experiment``."""
        self._experiment_attributed.labels(experiment, variant, kind).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format (version 0.0.4)."""
        return generate_latest(self.registry)


class RouteTemplates:
    """The full path template (router prefixes included) of the route that handled a request.

    FastAPI puts the matched route in ``scope["route"]`` without the prefixes of the routers
    it was included through; the full templates come from :func:`fastapi.routing.
    iter_route_contexts`, cached per route and re-read when an unknown route shows up.

    Args:
        routes: Returns the app's routes (read lazily: routes may be added after install).
    """

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._routes = routes
        self._paths: dict[int, tuple[BaseRoute, str]] = {}  # id(route) -> (route, template)

    def _refresh(self) -> None:
        paths: dict[int, tuple[BaseRoute, str]] = {}
        for context in iter_route_contexts(self._routes()):
            route, path = context.original_route, context.path_format
            if path is None:
                continue
            if id(route) in paths and paths[id(route)][1] != path:  # included twice
                path = getattr(route, "path_format", UNMATCHED)
            paths[id(route)] = (route, path)
        self._paths = paths

    def of(self, scope: Scope) -> str:
        """The template of ``scope``'s route, or :data:`UNMATCHED` if no route matched."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        found = self._paths.get(id(route))
        if found is None:
            self._refresh()
            found = self._paths.get(id(route))
            if found is None:
                found = (route, getattr(route, "path_format", UNMATCHED))
                self._paths[id(route)] = found
        return found[1]


def route_template(request: Request) -> str:
    """The route template of ``request`` (for logs: never the raw path with its ids)."""
    templates: RouteTemplates = request.app.state.route_templates
    return templates.of(request.scope)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_KEY:
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    """Times every HTTP request, records it in ``metrics``, logs it and echoes its request id.

    A pure ASGI middleware (no request/response objects are built). An exception escaping the
    app is recorded as status 500, which is what the server answers.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, templates: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (_REQUEST_ID_KEY, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self.templates.of(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.observe_request(method, route, status, seconds)
            if _access.isEnabledFor(logging.INFO):
                fields = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "request_id": request_id,
                }
                _access.info("request", extra={"fields": fields})


def get_metrics(request: Request) -> Metrics:
    """The app's metrics (dependency of routes that record domain counters)."""
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]

router = APIRouter(tags=["observability"], dependencies=[Depends(read_access)])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
def prometheus_metrics(metrics: MetricsDep) -> Response:
    """Request latency and counts per route template, the served model and snapshot, reach
    simulations run and process statistics (needs X-API-Key when reads do)."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def install(app: FastAPI) -> None:
    """Give ``app`` its metrics (``app.state.metrics``), the middleware and ``GET /metrics``."""
    app.state.metrics = Metrics(
        lambda: app.state.holder.state, lambda: getattr(app.state, "sync", None)
    )
    app.state.route_templates = RouteTemplates(lambda: app.routes)
    app.add_middleware(
        ObservabilityMiddleware, metrics=app.state.metrics, templates=app.state.route_templates
    )
    app.include_router(router)
