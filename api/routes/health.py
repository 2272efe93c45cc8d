"""``GET /health``: liveness, what is being served and whether the graph store answers."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response

from api.deps import SettingsDep, StateDep
from api.schemas.health import Counts, Dependency, HealthResponse, SnapshotInfo, SyncInfo
from serving.sync import ChangeSync

router = APIRouter(tags=["health"])

#: What an unauthenticated caller learns about a failing store (the cause, with the server's
#: address, goes to the log).
PUBLIC_DOWN_DETAIL: Final[str] = "not answering; the cause is in the server log"

_CEILING_BODY: Final[bytes] = b'{"status":"ok"}'


@router.get("/ceiling", include_in_schema=False)
async def ceiling() -> Response:
    """A constant small JSON on the event loop: what this app's stack serves with no work at all.

    The serving benchmark's ceiling (``benchmarks/serving_load.py``); not part of the API.
    """
    return Response(_CEILING_BODY, media_type="application/json")


@router.get("/health", response_model=HealthResponse, summary="Service status")
def health(state: StateDep, settings: SettingsDep, request: Request) -> HealthResponse:
    """Model version, snapshot identity, graph counts, the graph store's status (503 while
    nothing is loaded) and how far this replica has applied the store's change log. A store
    that is down makes the status ``degraded``, still 200: reads go on from the snapshot. The
    store is probed at most every couple of seconds."""
    if state.store is None:
        store = Dependency(
            name="graph_store", kind=settings.store, status="down", detail="not configured"
        )
    else:
        up = state.store.health().available
        store = Dependency(
            name="graph_store",
            kind=settings.store,
            status="ok" if up else "down",
            detail=None if up else PUBLIC_DOWN_DETAIL,
        )
    meta = state.snapshot.meta
    snapshot = state.snapshot
    return HealthResponse(
        status="ok" if store.status == "ok" else "degraded",
        model_version=state.checkpoint.model_version,
        model_name=state.checkpoint.model_name,
        model_warnings=state.checkpoint.quality_warnings,
        snapshot=SnapshotInfo(
            fingerprint=snapshot.fingerprint,
            created_at=str(meta.get("created_at", "")),
            format_version=int(meta["format_version"]),
            source=meta.get("source"),
        ),
        counts=Counts(
            users=snapshot.num_users,
            items=snapshot.num_items,
            interactions=len(snapshot.inter_user),
            social_edges=len(snapshot.social_src),
        ),
        dependencies=[store],
        sync=_sync_info(request.app.state.sync),
    )


def _sync_info(sync: ChangeSync | None) -> SyncInfo | None:
    if sync is None:
        return None
    seen = sync.status()
    return SyncInfo(
        enabled=seen.enabled,
        interval_s=seen.interval_s,
        watermark=seen.watermark,
        head=seen.head,
        lag=seen.lag,
        seconds_since_sync=None if seen.since_success_s is None else round(seen.since_success_s, 3),
    )


# HEAD /health answers like GET without a body (load balancers probe with it); kept out of the
# schema, where it would repeat GET's operation.
router.add_api_route(
    "/health", health, methods=["HEAD"], response_model=HealthResponse, include_in_schema=False
)
