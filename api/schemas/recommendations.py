"""Response schemas of the recommendations resource, and the shared error body."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

#: The serve-log and experiment fields every served answer (recommendations, feed) carries.
ServeId = Annotated[
    str | None,
    Field(
        description="Id of this answer in the serve log: send it back with events on these "
        "items (POST /events) to attribute them; absent when the serve log is off."
    ),
]
ExperimentName = Annotated[
    str | None,
    Field(description="The active experiment that assigned the user; null outside one."),
]
VariantName = Annotated[
    str | None,
    Field(description="The experiment's variant that served this answer ('holdout' too)."),
]


class ErrorResponse(BaseModel):
    """Body of every error the API returns itself (4xx/5xx other than 422)."""

    detail: str = Field(description="What went wrong and, where possible, how to fix it.")


class Reason(BaseModel):
    """Why an item is shown; only the fields of its ``type`` are present.

    * ``friends_purchased``: ``count`` friends (users this user sees) interacted with the item;
      ``user_ids``: the most recent of them first (bounded list).
    * ``similar_to``: ``item_ids`` from the user's own history closest to the item.
    * ``popular``: ``count`` distinct users interacted with the item.
    * ``author`` (feed): ``relation`` of the viewer to the author (friend, follow,
      friend_of_friend).
    * ``frequency_capped`` (feed): shown ``count`` times within the cap window.
    """

    type: Literal["friends_purchased", "similar_to", "popular", "author", "frequency_capped"]
    count: int | None = None
    user_ids: list[str] | None = None
    item_ids: list[str] | None = None
    relation: str | None = None


class RecommendedItem(BaseModel):
    item_id: str
    position: int = Field(description="Place in the list, 1 = top (attribution reads it).")
    score: float = Field(
        description="Ranking score: the model score (inner product of user and item "
        "embeddings) plus the social-proof boost; log1p(distinct users) for popular items."
    )
    model_score: float | None = Field(None, description="The score before the boost.")
    reasons: list[Reason] = Field(default_factory=list)


class RecommendationsResponse(BaseModel):
    user_id: str
    strategy: Literal["personalized", "social_cold_start", "popular"] = Field(
        "personalized",
        description="personalized: the user's own vector; social_cold_start: from friends "
        "(no own interactions); popular: no usable signal.",
    )
    items: list[RecommendedItem] = Field(description="Best first; at most k items.")
    serve_id: ServeId = None
    experiment: ExperimentName = None
    variant: VariantName = None
