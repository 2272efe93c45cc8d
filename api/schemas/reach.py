"""Request and response schemas of the reach, campaign-plan and influencer resources.

Counts include the seeds (see :mod:`graph.reach.estimate`). Qualified reach is the expected
sum, over reached users, of their target weight: the purchase probability for the target item
(1 without an item; see ``calibration`` in each response) times 1 for members of the target
segment and 0 for others (all users count without a segment); see :mod:`serving.reach`.
With a segment and no item it is the expected segment members reached.

Every response names the reach model that answered (``reach_model``): calibrated on the
store's own log by the last backtest, or weighted cascade with the reason; calibrated answers
add ``predicted`` adopters with predictive intervals next to the Monte-Carlo ``reach``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from serving.profile import ActivitySegment, ValueTier

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ModelName = Literal["ic", "lt"]


def _duplicate(values: list[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


class Probability(BaseModel):
    """Edge probabilities: the backtested, calibrated model (``calibrated``), uniform ``p``,
    weighted cascade (``1 / in-degree``) or learned from the interaction log within
    ``window_s`` (Goyal, Bonchi & Lakshmanan, WSDM 2010)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["calibrated", "uniform", "weighted_cascade", "learned"] = "weighted_cascade"
    p: float = Field(0.05, ge=0.0, le=1.0, description="Edge probability (kind=uniform).")
    window_s: int = Field(
        7 * 24 * 3600, gt=0, le=10 * 365 * 24 * 3600, description="Window (kind=learned)."
    )


class Segment(BaseModel):
    """Target users by their profile segment (``GET /api/v1/users/{user_id}/profile``);
    both fields given: users in both."""

    model_config = ConfigDict(extra="forbid")

    activity: ActivitySegment | None = Field(None, description="Activity segment by recency.")
    value_tier: ValueTier | None = Field(None, description="RFM value tier.")

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.activity is None and self.value_tier is None:
            raise ValueError("a segment needs activity or value_tier")
        return self


class ReachModelOut(BaseModel):
    """The reach model that answered, and how far to trust it."""

    name: str = Field(description="calibrated, weighted_cascade, uniform or learned.")
    calibrated: bool = Field(description="Whether `predicted` comes from a backtested model.")
    reason: str | None = Field(description="Why not calibrated.")
    fit_period: tuple[str | None, str | None] | None = Field(
        description="First and last day of the adoptions the calibration was fitted on."
    )
    horizon_days: float | None = Field(description="Horizon of the calibrated adopters.")
    backtest: dict[str, Any] | None = Field(
        description="Headline figures of the last backtest (Spearman, coverage, MAE, period)."
    )
    warnings: list[str] = Field(description="Where the request is outside what was backtested.")


class PredictedOut(BaseModel):
    """Calibrated adopters within the horizon (seeds included), with predictive intervals
    that include the model's error on the backtest's inner split (not only Monte-Carlo)."""

    expected: float
    median: float
    low50: float
    high50: float
    low90: float
    high90: float


class EstimateOut(BaseModel):
    """A Monte-Carlo mean with standard error and 95% normal confidence interval."""

    mean: float
    std_error: float
    ci_low: float
    ci_high: float


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field("ic", description="Independent Cascade or Linear Threshold.")
    probability: Probability | None = Field(
        None,
        description="Edge probabilities [default: the calibrated model of the last backtest "
        "when the server has one, else weighted cascade].",
    )
    simulations: int | None = Field(
        None, ge=2, description="Monte-Carlo worlds, 2..max_simulations [default: 1000]."
    )
    seed: int | None = Field(
        None, ge=0, le=2**64 - 1, description="Random seed; the response reports the one used."
    )
    item_id: ItemId | None = Field(None, description="Target item: adds qualified reach.")
    segment: Segment | None = Field(
        None, description="Target segment: adds qualified reach counting only its members."
    )


class ReachRequest(_Common):
    """``POST /api/v1/reach``."""

    seeds: list[UserId] = Field(min_length=1, description="Seed users (distinct).")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        dup = _duplicate(self.seeds)
        if dup is not None:
            raise ValueError(f"seeds contains {dup!r} more than once")
        return self


class SeedReach(BaseModel):
    user_id: str
    alone: EstimateOut = Field(description="Users this seed reaches (its reach alone).")
    marginal: EstimateOut = Field(
        description="Users reached by no other seed: what the set loses without it."
    )


class ReachResponse(BaseModel):
    seeds: list[str]
    model: ModelName
    probability: Probability
    simulations: int
    seed: int = Field(description="The seed used; send it again to reproduce the result.")
    item_id: str | None
    reach: EstimateOut = Field(description="Expected distinct users reached, seeds included.")
    audience: float = Field(description="reach.mean minus the number of seeds.")
    by_hop: list[float] = Field(description="Expected users first reached at hop h (0: seeds).")
    per_seed: list[SeedReach]
    overlap: list[list[float]] = Field(
        description="overlap[i][j]: expected users reached by both seeds i and j."
    )
    shared: EstimateOut = Field(description="Expected users reached by two or more seeds.")
    qualified: EstimateOut | None = Field(
        description="Expected sum of target weight over reached users (item_id or segment)."
    )
    calibration: str | None = Field(description="How scores become affinities (with item_id).")
    segment: Segment | None
    segment_size: int | None = Field(description="Served users in the segment (with segment).")
    reach_model: ReachModelOut
    predicted: PredictedOut | None = Field(
        description="Calibrated adopters within the horizon (calibrated model under ic)."
    )


class PlanRequest(_Common):
    """``POST /api/v1/campaigns/plan``: exactly one of ``k`` or ``budget`` (with ``costs``)."""

    k: int | None = Field(None, ge=1, description="Number of influencers, 1..max_plan_k.")
    budget: float | None = Field(None, gt=0, description="Total budget (needs costs).")
    costs: dict[UserId, Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = Field(
        None, description="Cost per influencer; in budget mode also the default candidates."
    )
    candidates: list[UserId] | None = Field(
        None,
        min_length=1,
        description="Candidate pool [default: the most-followed accounts, or the users in costs].",
    )

    @model_validator(mode="after")
    def _mode(self) -> Self:
        if (self.k is None) == (self.budget is None):
            raise ValueError("give exactly one of k or budget")
        if self.budget is not None and not self.costs:
            raise ValueError("budget needs costs (user_id -> cost)")
        if self.candidates is not None:
            dup = _duplicate(self.candidates)
            if dup is not None:
                raise ValueError(f"candidates contains {dup!r} more than once")
        return self


class PlannedInfluencer(BaseModel):
    user_id: str
    gain: float = Field(description="Estimated marginal gain when added, in objective units.")
    cost: float | None


class BaselineOut(BaseModel):
    seeds: list[str] = Field(description="The top-followers set (same size, or within budget).")
    reach: EstimateOut
    qualified: EstimateOut | None
    predicted: PredictedOut | None = Field(description="Calibrated adopters (see PlanResponse).")


class PlanResponse(BaseModel):
    objective: Literal["reach", "qualified"]
    method: str = Field(description="imm, celf-unit-cost or celf-cost-benefit (+baseline).")
    model: ModelName
    probability: Probability
    simulations: int
    seed: int
    item_id: str | None
    segment: Segment | None
    segment_size: int | None = Field(description="Served users in the segment (with segment).")
    chosen: list[PlannedInfluencer] = Field(description="In selection order.")
    reach: EstimateOut = Field(description="Monte-Carlo reach of the chosen set.")
    qualified: EstimateOut | None
    baseline: BaselineOut
    ratio: float | None = Field(description="Chosen / baseline objective (null if baseline 0).")
    guarantee: float = Field(description="Approximation factor on the sampled objective.")
    rr_sets: int
    total_cost: float | None
    calibration: str | None = Field(description="How scores become affinities (with item_id).")
    reach_model: ReachModelOut
    predicted: PredictedOut | None = Field(
        description="Calibrated adopters of the chosen set within the horizon (calibrated, ic)."
    )


class Influencer(BaseModel):
    user_id: str
    followers: int
    reach: EstimateOut = Field(description="Reach as the only seed (seed included).")
    qualified: EstimateOut | None = Field(description="Qualified reach alone (with item_id).")
    predicted: PredictedOut | None = Field(
        description="Calibrated adopters alone within the horizon (calibrated model, ic)."
    )


class InfluencersResponse(BaseModel):
    item_id: str | None
    model: ModelName
    probability: Probability
    simulations: int
    seed: int
    segment: Segment | None
    segment_size: int | None = Field(description="Served users in the segment (with segment).")
    ranked_by: Literal["reach", "qualified"]
    influencers: list[Influencer] = Field(description="Best first.")
    calibration: str | None = Field(description="How scores become affinities (with item_id).")
    reach_model: ReachModelOut


class CalibrationResponse(BaseModel):
    """``GET /api/v1/reach/calibration``."""

    reach_model: ReachModelOut = Field(description="The model of requests naming no probability.")
    affinity: str = Field(description="How model scores become purchase probabilities.")
    backtest: dict[str, Any] | None = Field(
        description="The last backtest report (`socialrec reach backtest`), null if none."
    )
