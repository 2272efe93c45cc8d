"""``POST /api/v1/feed/rank``: rank a caller's candidate posts for one user."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Depends, Response
from pydantic import TypeAdapter

from api.auth import ApiKeyHeader, check_api_key, read_access
from api.deps import ExperimentsDep, SettingsDep, StateDep
from api.errors import named
from api.one_step import OneStepRoute
from api.schemas.feed import FeedRankRequest, FeedRankResponse
from serving.events import ImpressionLog
from serving.feed import Candidate, RankedCandidate, rank_feed
from serving.social import Reason as ServiceReason
from serving.social import Strategy

#: One-step resolution (api/one_step.py): declare dependencies on the route, not here.
router = APIRouter(prefix="/feed", tags=["feed"], route_class=OneStepRoute)


@dataclass(frozen=True, slots=True)
class FedPost:
    """A ranked candidate as served: field for field a ``RankedPost``."""

    item_id: str
    position: int
    author_id: str | None
    post_id: str | None
    score: float
    item_score: float | None
    closeness: float
    impressions: int
    capped: bool
    reasons: tuple[ServiceReason, ...]


@dataclass(frozen=True, slots=True)
class FedFeed:
    """A feed answer as served: field for field a ``FeedRankResponse``."""

    user_id: str
    strategy: Strategy
    items: list[FedPost]
    serve_id: str | None
    experiment: str | None
    variant: str | None


#: Serialiser of :class:`FedFeed` (the JSON of ``FeedRankResponse``, nulls included).
_BODY: Final = TypeAdapter(FedFeed)


def fed_posts(ranked: Sequence[RankedCandidate]) -> list[FedPost]:
    """``ranked`` with their 1-based positions."""
    return [
        FedPost(
            r.candidate.item_id,
            position,
            r.candidate.author_id,
            r.candidate.post_id,
            r.score,
            r.item_score,
            r.closeness,
            r.impressions,
            r.capped,
            r.reasons,
        )
        for position, r in enumerate(ranked, 1)
    ]


# The docstring below is the OpenAPI description. The body, parameters and dependencies are
# resolved in one step by the router's OneStepRoute (api/one_step.py).
@router.post(
    "/rank",
    response_model=FeedRankResponse,
    dependencies=[Depends(read_access)],
    summary="Rank feed candidates",
)
def rank(
    body: FeedRankRequest,
    state: StateDep,
    experiments: ExperimentsDep,
    settings: SettingsDep,
    x_api_key: ApiKeyHeader = None,
) -> Response:
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
    # Written straight from dataclasses that mirror FeedRankResponse field for field (a test
    # checks the JSON against the schema): building and validating the response models cost
    # ~0.4 ms of CPU per 50 posts (benchmarks/serving_profile.py).
    payload = _BODY.dump_json(
        FedFeed(
            body.user_id,
            strategy,
            fed_posts(ranked),
            serve_id,
            arm.experiment,
            arm.variant,
        )
    )
    return Response(payload, media_type="application/json")
