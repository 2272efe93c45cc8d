"""Request and response schemas of launched campaigns and their results
(``POST /api/v1/campaigns``, ``GET /api/v1/campaigns/{campaign_id}/report``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Id = str


class LaunchRequest(BaseModel):
    """A campaign launched with ``kols`` promoting ``item_id`` from ``start``."""

    model_config = ConfigDict(extra="forbid")

    kols: list[Id] = Field(
        min_length=1, description="The KOLs (influencers) of the campaign, distinct user ids."
    )
    item_id: Id = Field(min_length=1, max_length=256)
    start: int | None = Field(None, ge=0, description="Launch time, epoch seconds; default now.")
    name: str | None = Field(None, max_length=256)
    simulations: int | None = Field(
        None, ge=2, description="Monte-Carlo simulations of the prediction [default: 1000]."
    )
    seed: int | None = Field(
        None, ge=0, le=2**64 - 1, description="Random seed of the simulations."
    )


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IntervalOut(_Read):
    """A predicted count: expected value, 90% interval, and 50% interval when calibrated."""

    expected: float
    low90: float
    high90: float
    low50: float | None = None
    high50: float | None = None


class KolPredictionOut(_Read):
    user_id: str
    alone: float = Field(description="Predicted audience as the only KOL (the KOL left out).")
    marginal: float = Field(description="Predicted users no other KOL reaches.")


class CampaignOut(_Read):
    """A launched campaign and the reach model's prediction at launch (audiences: KOLs left
    out)."""

    campaign_id: str
    name: str | None
    item_id: str
    kols: list[str]
    start_ts: int
    created_ts: int
    probability: str = Field(description="The probability kind that predicted.")
    kinds: list[str] = Field(description="Interaction kinds counted as adoption.")
    horizon_s: int | None = Field(description="Seconds after start the prediction covers.")
    reach: IntervalOut = Field(description="Users reached (Monte-Carlo 95% interval).")
    adopters: IntervalOut = Field(
        description="Adopters: calibrated (50%/90% predictive intervals) or, without a "
        "calibration, expected buyers reached (Monte-Carlo 95% interval)."
    )
    adopters_calibrated: bool
    per_kol: list[KolPredictionOut]
    simulations: int
    warnings: list[str]


class KolResultOut(_Read):
    user_id: str
    predicted_alone: float
    predicted_marginal: float
    adopters: int = Field(description="Observed adopters credited to this KOL (nearest).")
    by_hop: dict[int, int] = Field(description="Those adopters by hops from the KOL.")
    adopted_themselves: bool


class CampaignReportOut(_Read):
    """Predicted against observed adopters (docs/online-evaluation.md, Campaign results)."""

    campaign: CampaignOut
    since_ts: int
    until_ts: int
    complete: bool = Field(description="Whether the prediction's horizon has passed.")
    observed_adopters: int = Field(description="Users who adopted the item, KOLs left out.")
    within_90: bool
    within_50: bool | None
    per_kol: list[KolResultOut]
    unreached: int = Field(description="Adopters no KOL reaches within the hop bound.")
