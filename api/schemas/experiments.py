"""Request and response bodies of ``/api/v1/experiments`` (see :mod:`serving.experiments` and
:mod:`serving.online_metrics` for the meaning of every field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class VariantBody(BaseModel):
    """One variant: a traffic share and the serving knobs it overrides (absent: the server's
    setting)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="Unique in the experiment; not 'holdout'.")
    share: float = Field(gt=0, le=1, description="Fraction of users.")
    checkpoint: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="Path (on the server) of a checkpoint trained on the served snapshot.",
    )
    strategy: Literal["model", "popular"] | None = Field(
        None, description="'model': the usual choice per user; 'popular': popularity for all."
    )
    social_boost: float | None = Field(None, ge=0, le=10)
    feed_author_weight: float | None = Field(None, ge=0, le=100)
    feed_cap_impressions: int | None = Field(None, ge=1, le=1000)
    feed_cap_hours: float | None = Field(None, gt=0, le=24 * 365)
    feed_cap_mode: Literal["demote", "drop"] | None = None


class ExperimentBody(BaseModel):
    """A new experiment."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    variants: list[VariantBody] = Field(
        min_length=1, max_length=20, description="The first variant is the control."
    )
    holdout_share: float = Field(
        0.0, ge=0, lt=1, description="Users held out, served the default settings."
    )
    salt: str | None = Field(
        None, min_length=1, max_length=128, description="Assignment salt (default: the name)."
    )
    active: bool = Field(True, description="Start assigning users now (one active at a time).")


class ExperimentOut(ExperimentBody):
    """A stored experiment."""

    model_config = ConfigDict(extra="forbid")

    salt: str | None = None
    control: str
    created_ts: int


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]


class IntervalOut(BaseModel):
    """An estimate and its interval at ``1 - alpha`` (``null``: not defined, e.g. no users)."""

    value: float | None
    low: float | None
    high: float | None


class DifferenceOut(BaseModel):
    """``variant - control`` with its interval and two-sided p-value."""

    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None


class VariantMetricsOut(BaseModel):
    variant: str
    segment: str = Field(description="'all', or e.g. 'activity=active', 'value_tier=high'.")
    users: int
    impressions: int
    clicks: int
    purchases: int
    revenue: float
    ctr: IntervalOut
    purchases_per_impression: IntervalOut
    conversion_per_user: IntervalOut
    revenue_per_user: IntervalOut
    retention: dict[str, IntervalOut] = Field(description="'7d' and '30d'.")
    retention_users: dict[str, int] = Field(description="Users old enough to measure.")


class ComparisonOut(BaseModel):
    metric: str
    segment: str
    variant: str
    control: str
    test: str = Field(description="delta_method, two_proportion_z or poisson_bootstrap.")
    result: DifferenceOut
    significant: bool


class ReportOut(BaseModel):
    """The experiment's report (``GET /experiments/{name}/report``)."""

    experiment: str
    control: str
    alpha: float
    generated_ts: int
    serves: int = Field(description="Serves of the experiment read from the serve log.")
    metrics: list[VariantMetricsOut]
    comparisons: list[ComparisonOut]
    caveat: str
