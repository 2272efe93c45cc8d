"""The FastAPI application factory.

Run with ``socialrec serve`` or ``uvicorn api.app:create_app --factory``. The lifespan loads
the snapshot and checkpoint once (see :func:`serving.state.load_state`); routes get them through
the dependencies in :mod:`api.deps`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api import errors, observability
from api.routes import (
    admin,
    campaigns,
    events,
    experiments,
    feed,
    health,
    influencers,
    reach,
    recommendations,
    users,
)
from api.schemas.recommendations import ErrorResponse
from graph.store import StoreUnavailableError
from serving.attribution import open_serve_recorder
from serving.experiment_serving import ExperimentServing
from serving.experiments import EXPERIMENTS_FILE, ExperimentRegistry
from serving.recommender import UnknownUserError
from serving.served_graph import UnknownEntityError
from serving.settings import Settings, get_settings
from serving.state import load_state, open_writers, settle_heap
from serving.sync import ChangeSync
from serving.writes import StateHolder, StateNotLoadedError

API_PREFIX: Final[str] = "/api/v1"
#: Resource routers mounted under ``API_PREFIX``; add a resource with a one-line edit.
ROUTERS: Final[tuple[APIRouter, ...]] = (
    recommendations.router,
    reach.router,
    campaigns.router,
    influencers.router,
    users.router,
    feed.router,
    events.router,
    admin.router,
    experiments.router,
)

#: Errors every route under ``API_PREFIX`` can answer, documented in each one's schema.
COMMON_RESPONSES: Final[dict[int | str, dict[str, object]]] = {
    status.HTTP_400_BAD_REQUEST: {
        "model": ErrorResponse,
        "description": "A body that cannot be parsed at all (bytes that are not JSON text); "
        "values the service cannot use answer 422.",
    },
    status.HTTP_401_UNAUTHORIZED: {
        "model": ErrorResponse,
        "description": "X-API-Key missing (writes; reads with SOCIALREC_READ_REQUIRES_KEY).",
    },
    status.HTTP_403_FORBIDDEN: {"model": ErrorResponse, "description": "Wrong X-API-Key."},
    status.HTTP_413_CONTENT_TOO_LARGE: {
        "description": "Request body larger than SOCIALREC_MAX_BODY_BYTES."
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorResponse,
        "description": "Model not loaded, graph store unavailable (with Retry-After), or "
        "writes disabled because the server has no API key.",
    },
}

_log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings`` defaults to :func:`serving.settings.get_settings`."""
    resolved = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store, impressions = open_writers(resolved)
        serves = open_serve_recorder(resolved, store)
        sync = app.state.sync = ChangeSync(
            store,
            holder,
            interval_s=resolved.sync_interval_s,
        )
        try:
            state = load_state(resolved, store=store, impressions=impressions, serves=serves)
            holder.serve(state)
            sync.skip_to(int(state.snapshot.meta.get("change_seq", 0)))
            _catch_up(sync)  # before serving: deletions since the snapshot hold from the start
            settle_heap()
            sync.start()  # other replicas' writes (see serving/sync.py)
            if serves is not None:
                serves.start()  # writes the serve log in the background
            yield
        finally:
            sync.stop()
            if serves is not None:
                serves.stop()  # writes what is queued
            holder.serve(None)
            store.close()
            impressions.close()

    app = FastAPI(
        title="socialrec",
        summary="Graph-based social-commerce recommendations.",
        version="1",
        lifespan=lifespan,
        max_body_size=resolved.max_body_bytes,  # larger bodies get 413 before parsing
    )
    app.state.settings = resolved
    holder = app.state.holder = StateHolder()  # the served state; one lock for its changes
    app.state.sync = None  # the lifespan's ChangeSync
    app.include_router(health.router)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=COMMON_RESPONSES)
    observability.install(app)  # GET /metrics, request metrics and access logs
    app.state.experiments = ExperimentServing(  # experiment definitions and variant arms
        ExperimentRegistry(resolved.work_dir / EXPERIMENTS_FILE),
        count=app.state.metrics.count_serve,
    )
    app.add_exception_handler(UnknownUserError, _unknown_user)
    app.add_exception_handler(UnknownEntityError, _unknown_user)
    app.add_exception_handler(StoreUnavailableError, _store_unavailable)
    app.add_exception_handler(StateNotLoadedError, _not_loaded)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(ValueError, errors.field_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


def _catch_up(sync: ChangeSync) -> None:
    """Apply the change log once before serving; a store that cannot be read is logged and
    left to the background sync (the API then starts on its snapshot alone)."""
    try:
        applied = sync.run_once()
    except Exception as exc:  # the background sync retries; messages may hold ids
        _log.warning(
            "change log not read before serving (%s); the sync retries", type(exc).__name__
        )
        return
    if applied:
        _log.info("applied %d logged writes before serving", applied)


async def _unknown_user(request: Request, exc: Exception) -> JSONResponse:
    detail = errors.clip(str(exc), errors.MAX_MESSAGE)
    return JSONResponse({"detail": detail}, status_code=status.HTTP_404_NOT_FOUND)


async def _not_loaded(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    retry = str(request.app.state.settings.store_retry_after_s)
    return JSONResponse(
        {"detail": f"the graph store is unavailable, try again later: {exc}"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": retry},
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    route = observability.route_template(request)  # the template: no ids in logs
    _log.exception("unhandled error on %s %s", request.method, route)
    return JSONResponse(
        {"detail": "internal server error; see the server log"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
