"""Request and response schemas of ``POST /api/v1/feed/rank``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.recommendations import ExperimentName, Reason, ServeId, VariantName

Id = str


class FeedCandidate(BaseModel):
    item_id: Id = Field(min_length=1, max_length=256)
    author_id: Id | None = Field(None, min_length=1, max_length=256)
    post_id: Id | None = Field(None, min_length=1, max_length=256)


class FeedRankRequest(BaseModel):
    user_id: Id = Field(min_length=1, max_length=256)
    candidates: list[FeedCandidate] = Field(min_length=1, max_length=1000)
    region: str | None = Field(
        None, description="Region for popular items when the user is unknown."
    )


class RankedPost(BaseModel):
    item_id: str
    position: int = Field(description="Place in the feed, 1 = top (attribution reads it).")
    author_id: str | None = None
    post_id: str | None = None
    score: float = Field(description="z(item score) + author_weight * closeness.")
    item_score: float | None = Field(description="The user's item score; null if unknown item.")
    closeness: float
    impressions: int = Field(description="Times shown within the frequency-cap window.")
    capped: bool
    reasons: list[Reason] = Field(default_factory=list)


class FeedRankResponse(BaseModel):
    user_id: str
    strategy: Literal["personalized", "social_cold_start", "popular"]
    items: list[RankedPost] = Field(description="Best first; capped posts last or dropped.")
    serve_id: ServeId = None
    experiment: ExperimentName = None
    variant: VariantName = None
