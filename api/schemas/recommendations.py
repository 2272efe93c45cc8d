"""Response schemas of the recommendations resource, and the shared error body."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Body of every error the API returns itself (4xx/5xx other than 422)."""

    detail: str = Field(description="What went wrong and, where possible, how to fix it.")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="Inner product of the user and item embeddings.")


class RecommendationsResponse(BaseModel):
    user_id: str
    items: list[RecommendedItem] = Field(description="Best first; at most k items.")
