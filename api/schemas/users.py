"""Schemas of ``GET /users/{id}/profile``, ``DELETE /users/{id}`` and ``POST /admin/reload``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CategoryShareOut(BaseModel):
    category: str
    share: float


class SocialStatsOut(BaseModel):
    friends: int = Field(description="Mutual friends.")
    following: int = Field(description="Accounts the user follows (one-way).")
    followers: int = Field(description="Accounts following the user (one-way).")
    influence_score: float = Field(description="Share of users with a smaller audience.")


class ProfileResponse(BaseModel):
    user_id: str
    interactions: int
    top_categories: list[CategoryShareOut]
    price_ratio: float | None = Field(description="Median paid / category median price.")
    price_sensitivity: Literal["value", "mainstream", "premium", "unknown"]
    activity_segment: Literal["new", "active", "dormant", "churned", "unknown"]
    days_since_last: float | None
    value_tier: Literal["high", "mid", "low"]
    rfm_score: float
    social: SocialStatsOut


class DeleteUserResponse(BaseModel):
    user_id: str
    deleted_from_store: bool
    removed_from_serving: bool


class ReloadResponse(BaseModel):
    model_version: str
    snapshot_fingerprint: str
    live_interactions: int = Field(
        description="Live interactions re-applied on top of the new snapshot."
    )
