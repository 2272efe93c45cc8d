"""Request and response schemas of the reach, campaign-plan and influencer resources.

Counts include the seeds (see :mod:`graph.reach.estimate`). Qualified reach is the expected
sum, over reached users, of their target weight: the calibrated affinity for the target item
(percentile rank of the model's score among all users, in [0, 1]; 1 without an item) times 1
for members of the target segment and 0 for others (all users count without a segment); see
:mod:`api.services.reach`. With a segment and no item it is the expected segment members
reached.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.services.profile import ActivitySegment, ValueTier
from api.services.reach import InfluencerReach, ProbabilitySpec
from graph.reach.estimate import Estimate
from graph.reach.plan import CampaignPlan

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ModelName = Literal["ic", "lt"]
CALIBRATION = "percentile rank of the model score for the item among all users, in [0, 1]"


def _duplicate(values: list[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


class Probability(BaseModel):
    """Edge probabilities: uniform ``p``, weighted cascade (``1 / in-degree``) or learned
    from the interaction log within ``window_s`` (Goyal, Bonchi & Lakshmanan, WSDM 2010)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["uniform", "weighted_cascade", "learned"] = "weighted_cascade"
    p: float = Field(0.05, ge=0.0, le=1.0, description="Edge probability (kind=uniform).")
    window_s: int = Field(
        7 * 24 * 3600, gt=0, le=10 * 365 * 24 * 3600, description="Window (kind=learned)."
    )

    def to_spec(self) -> ProbabilitySpec:
        return ProbabilitySpec(kind=self.kind, p=self.p, window_s=self.window_s)


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


class EstimateOut(BaseModel):
    """A Monte-Carlo mean with standard error and 95% normal confidence interval."""

    mean: float
    std_error: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, estimate: Estimate) -> EstimateOut:
        return cls(
            mean=estimate.mean,
            std_error=estimate.std_error,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
        )


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field("ic", description="Independent Cascade or Linear Threshold.")
    probability: Probability = Field(default_factory=Probability)
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

    @classmethod
    def of(
        cls,
        plan: CampaignPlan,
        request: PlanRequest,
        simulations: int,
        segment_size: int | None,
    ) -> PlanResponse:
        est, base = plan.estimate, plan.baseline_estimate
        return cls(
            objective="qualified" if plan.objective == "qualified" else "reach",
            method=plan.method,
            model=request.model,
            probability=request.probability,
            simulations=simulations,
            seed=plan.seed,
            item_id=request.item_id,
            segment=request.segment,
            segment_size=segment_size,
            chosen=[
                PlannedInfluencer(user_id=c.seed, gain=c.gain, cost=c.cost) for c in plan.chosen
            ],
            reach=EstimateOut.of(est.reach),
            qualified=None if est.qualified is None else EstimateOut.of(est.qualified),
            baseline=BaselineOut(
                seeds=plan.baseline,
                reach=EstimateOut.of(base.reach),
                qualified=None if base.qualified is None else EstimateOut.of(base.qualified),
            ),
            ratio=plan.ratio if plan.ratio != float("inf") else None,
            guarantee=plan.guarantee,
            rr_sets=plan.rr_sets,
            total_cost=plan.total_cost,
        )


class Influencer(BaseModel):
    user_id: str
    followers: int
    reach: EstimateOut = Field(description="Reach as the only seed (seed included).")
    qualified: EstimateOut | None = Field(description="Qualified reach alone (with item_id).")

    @classmethod
    def of(cls, row: InfluencerReach) -> Influencer:
        return cls(
            user_id=row.user_id,
            followers=row.followers,
            reach=EstimateOut.of(row.reach),
            qualified=None if row.qualified is None else EstimateOut.of(row.qualified),
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
