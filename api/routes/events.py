"""``POST /api/v1/events``: live interactions and impressions (API key required)."""

from __future__ import annotations

import time
from functools import partial

from fastapi import APIRouter, Depends, status

from api.auth import require_api_key
from api.deps import HolderDep, SettingsDep
from api.errors import at_most
from api.observability import MetricsDep
from api.schemas.events import EventErrorOut, EventsRequest, EventsResponse
from api.schemas.recommendations import ErrorResponse
from serving.events import as_raw
from serving.writes import ingest_events

router = APIRouter(prefix="/events", tags=["events"], dependencies=[Depends(require_api_key)])


@router.post(
    "",
    response_model=EventsResponse,
    responses={
        status.HTTP_401_UNAUTHORIZED: {"model": ErrorResponse},
        status.HTTP_403_FORBIDDEN: {"model": ErrorResponse},
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorResponse},
    },
    summary="Ingest live events",
)
def post_events(
    body: EventsRequest, holder: HolderDep, settings: SettingsDep, metrics: MetricsDep
) -> EventsResponse:
    """Validate the batch like the loader (one error per bad entry; good ones accepted),
    write the accepted users and interactions to the store (impressions to the impression
    log) before answering, then apply them to serving at once: interacted items leave the
    user's recommendations, the user's vector is folded in, new users become servable. Other
    replicas on the same store apply them within ``SOCIALREC_SYNC_INTERVAL_S``.

    Accepted events on an item are attributed to the serve they came from (``serve_id`` when
    given and it fits, else the last serve of the item to the user within
    ``SOCIALREC_ATTRIBUTION_WINDOW_HOURS``; docs/online-evaluation.md); ``attributed`` counts
    them, and those crediting an experiment's serve are counted per variant in ``/metrics``.

    The answer is 200 whenever the batch was processed, also if every entry was rejected
    (see ``errors``); 503 with Retry-After while the store is unavailable (nothing applied).
    """
    size = len(body.users) + len(body.events)
    at_most(("body", "events"), size, settings.max_events, "number of users+events")
    users = [as_raw(u.model_dump()) for u in body.users]
    events = [as_raw(e.model_dump(exclude={"serve_id"})) for e in body.events]
    serve_ids = [None if e.serve_id is None else str(e.serve_id) for e in body.events]
    now = int(time.time())
    batch, attributed = holder.write(
        partial(
            ingest_events,
            users=users,
            events=events,
            serve_ids=serve_ids,
            now=now,
            attribution_window_s=round(settings.attribution_window_hours * 3600),
            impression_window_s=round(settings.feed_cap_hours * 3600),
        )
    )
    for credited in attributed:
        if credited.experiment is not None and credited.variant is not None:
            metrics.count_attributed(
                credited.experiment, credited.variant, credited.attribution.kind
            )
    return EventsResponse(
        accepted_users=len(batch.users),
        accepted_interactions=len(batch.interactions),
        accepted_impressions=len(batch.impressions),
        attributed=len(attributed),
        errors=[
            EventErrorOut(
                table=e.table, index=e.index, field=e.field, value=e.value, reason=e.reason
            )
            for e in batch.errors
        ],
    )
