"""``POST /api/v1/feed/rank``: rank a caller's candidate posts for one user."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Depends

from api.auth import ApiKeyHeader, check_api_key, read_access
from api.deps import ExperimentsDep, SettingsDep, StateDep
from api.errors import named
from api.schemas.feed import FeedRankRequest, FeedRankResponse, RankedPost
from api.schemas.recommendations import Reason
from serving.events import ImpressionLog
from serving.feed import Candidate, rank_feed
from serving.social import Reason as ServiceReason

router = APIRouter(prefix="/feed", tags=["feed"], dependencies=[Depends(read_access)])


@router.post("/rank", response_model=FeedRankResponse, summary="Rank feed candidates")
def rank(
    body: FeedRankRequest,
    state: StateDep,
    experiments: ExperimentsDep,
    settings: SettingsDep,
    x_api_key: ApiKeyHeader = None,
) -> FeedRankResponse:
    """Candidates ranked by the user's item score and closeness to the author; items or posts
    shown ``feed_cap_impressions`` times in the last ``feed_cap_hours`` are demoted (or
    dropped, ``feed_cap_mode``). Unknown users get popular items, never 404. A candidate with
    an ``author_id`` needs X-API-Key unless ``SOCIALREC_FEED_AUTHORS_REQUIRE_KEY=false``
    (closeness tells whom the user knows)."""
    if settings.feed_authors_require_key and any(c.author_id for c in body.candidates):
        check_api_key(settings, x_api_key)
    impressions = state.impressions if state.impressions is not None else ImpressionLog(None)
    arm = experiments.arm(state, body.user_id)  # the server's own, or an experiment's variant
    try:
        strategy, ranked = rank_feed(
            arm.social,
            impressions,
            body.user_id,
            [Candidate(c.item_id, c.author_id, c.post_id) for c in body.candidates],
            now=int(time.time()),
            author_weight=arm.feed.author_weight,
            cap=arm.feed.cap,
            window_s=arm.feed.window_s,
            mode=arm.feed.mode,
            region=body.region,
        )
    except ValueError as exc:  # e.g. a region the snapshot does not have: 422 there
        raise named(exc, ("body",), FeedRankRequest.model_fields) from exc
    items = []
    for position, r in enumerate(ranked, 1):
        items.append(
            RankedPost(
                item_id=r.candidate.item_id,
                position=position,
                author_id=r.candidate.author_id,
                post_id=r.candidate.post_id,
                score=r.score,
                item_score=r.item_score,
                closeness=r.closeness,
                impressions=r.impressions,
                capped=r.capped,
                reasons=reason_schemas(r.reasons),
            )
        )
    serve_id = None
    if state.serves is not None:  # logged in the background (serving/attribution.py)
        shown = [r.candidate.item_id for r in ranked]
        serve_id = state.serves.record(
            body.user_id,
            "feed",
            shown,
            model=arm.model,
            experiment=arm.experiment,
            variant=arm.variant,
        )
    experiments.served(arm, "feed", len(ranked))
    return FeedRankResponse(
        user_id=body.user_id,
        strategy=strategy,
        items=items,
        serve_id=serve_id,
        experiment=arm.experiment,
        variant=arm.variant,
    )


def reason_schemas(reasons: Sequence[ServiceReason]) -> list[Reason]:
    """Service reasons as response reasons."""
    return [
        Reason(
            type=r.type,
            count=r.count,
            user_ids=None if r.user_ids is None else list(r.user_ids),
            item_ids=None if r.item_ids is None else list(r.item_ids),
            relation=r.relation,
        )
        for r in reasons
    ]
