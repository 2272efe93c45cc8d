"""``POST /api/v1/events``: live interactions and impressions (API key required)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, status

from api.auth import require_api_key
from api.deps import SettingsDep, get_state
from api.errors import at_most
from api.schemas.events import EventErrorOut, EventsRequest, EventsResponse
from api.schemas.recommendations import ErrorResponse
from graph.serve_log import Attribution
from graph.store import GraphStore, StoreUnavailableError
from serving.attribution import attribute_in, touches
from serving.events import ValidatedBatch, as_raw, validate_events, write_batch
from serving.state import AppState
from serving.sync import apply_write

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
def post_events(body: EventsRequest, request: Request, settings: SettingsDep) -> EventsResponse:
    """Validate the batch like the loader (one error per bad entry; good ones accepted),
    write the accepted users and interactions to the store (impressions to the impression
    log) before answering, then apply them to serving at once: interacted items leave the
    user's recommendations, the user's vector is folded in, new users become servable. Other
    replicas on the same store apply them within ``SOCIALREC_SYNC_INTERVAL_S``.

    Accepted events on an item are attributed to the serve they came from (``serve_id`` when
    given and it fits, else the last serve of the item to the user within
    ``SOCIALREC_ATTRIBUTION_WINDOW_HOURS``; docs/online-evaluation.md); ``attributed`` counts
    them.

    The answer is 200 whenever the batch was processed, also if every entry was rejected
    (see ``errors``); 503 with Retry-After while the store is unavailable (nothing applied).
    """
    size = len(body.users) + len(body.events)
    at_most(("body", "events"), size, settings.max_events, "number of users+events")
    users = [as_raw(u.model_dump()) for u in body.users]
    events = [as_raw(e.model_dump(exclude={"serve_id"})) for e in body.events]
    serve_ids = [None if e.serve_id is None else str(e.serve_id) for e in body.events]
    now = int(time.time())
    window_s = round(settings.attribution_window_hours * 3600)
    with request.app.state.write_lock:  # the state current now, not one a reload replaced
        state: AppState = get_state(request)
        if state.store is None:
            raise StoreUnavailableError("no graph store is configured for this server")
        attributing = state.serves is not None and any(e.item_id for e in body.events)
        if attributing and state.serves is not None:
            state.serves.flush()  # serves queued so far are in the store for last touch

        def validate_and_write(store: GraphStore) -> tuple[ValidatedBatch, list[Attribution]]:
            batch = validate_events(store, users, events, now=now)
            write_batch(store, batch)
            if not attributing:
                return batch, []
            given = touches(events, serve_ids, batch.interactions, batch.impressions, now=now)
            return batch, attribute_in(store, given, window_s)

        batch, attributed = state.store.call(validate_and_write)
        if state.impressions is not None and batch.impressions:
            state.impressions.record(batch.impressions)
            state.impressions.prune(now - round(settings.feed_cap_hours * 3600))
        apply_write(state, batch.users, batch.interactions)
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
