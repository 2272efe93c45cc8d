"""Request and response schemas of ``POST /api/v1/events``.

Field types are deliberately loose (text or numbers): every value is validated like a loader
row, so one bad event gets its own error instead of failing the whole batch with 422.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Loose = str | int | float | None


class UserIn(BaseModel):
    user_id: Loose = None
    region: Loose = None
    signup_ts: Loose = None
    private: bool | Loose = Field(
        None,
        description="Privacy setting (docs/privacy.md): true hides the user's activity from "
        "others' reasons and their relations from feed scores; absent keeps the stored value.",
    )


class EventIn(BaseModel):
    """An interaction (``kind`` view/click/cart/purchase/rating) or an ``impression``."""

    user_id: Loose = None
    item_id: Loose = None
    kind: Loose = None
    value: Loose = None
    ts: Loose = Field(None, description="Epoch seconds or ISO-8601; default: now.")
    post_id: Loose = Field(None, description="Impressions only: the feed post shown.")
    serve_id: Loose = Field(
        None,
        description="The serve_id of the recommendation or feed answer that showed the item "
        "(attribution; docs/online-evaluation.md). Unknown ids fall back to last touch.",
    )


class EventsRequest(BaseModel):
    users: list[UserIn] = Field(
        default_factory=list, description="New users to register before the events."
    )
    events: list[EventIn] = Field(default_factory=list)


class EventErrorOut(BaseModel):
    table: Literal["users", "events"]
    index: int = Field(description="Position of the rejected entry in its list.")
    field: str
    value: str
    reason: str


class EventsResponse(BaseModel):
    accepted_users: int
    accepted_interactions: int
    accepted_impressions: int
    attributed: int = Field(
        0, description="Accepted events attributed to a serve (explicit or last touch)."
    )
    errors: list[EventErrorOut]
