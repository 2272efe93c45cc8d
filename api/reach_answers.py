"""How the reach, campaign-plan and influencer routes answer: the request's resolved reach
model (:class:`Answered`) and the conversions from the library's results to the response
shapes of :mod:`api.schemas.reach`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from api.schemas.reach import (
    BaselineOut,
    EstimateOut,
    Influencer,
    PlannedInfluencer,
    PlanRequest,
    PlanResponse,
    PredictedOut,
    Probability,
    ReachModelOut,
)
from graph.reach.calibrate import Prediction
from graph.reach.estimate import Estimate
from graph.reach.plan import CampaignPlan
from serving.reach import InfluencerReach, ReachService
from serving.reach_model import ReachModel, ReachModelInfo
from serving.served_graph import ProbabilitySpec


@dataclass(frozen=True)
class Answered:
    """How a reach request is answered: the resolved probabilities, the model block of the
    response, the affinity method, and the calibrated prediction (see :meth:`predict`)."""

    probability: Probability
    info: ReachModelInfo
    calibration: str
    model: ReachModel
    model_name: str

    @classmethod
    def resolve(
        cls,
        requested: Probability | None,
        service: ReachService,
        *,
        model: str,
        num_seeds: int | None = None,
    ) -> Answered:
        """Resolve ``requested`` (``None``: the service's default) for a request."""
        probability = requested or Probability(kind=service.default_probability().kind)
        info = service.reach_model.info(
            probability.kind,
            model=model,
            num_seeds=num_seeds,
            p=probability.p,
            window_s=probability.window_s,
        )
        return cls(probability, info, service.affinity_method, service.reach_model, model)

    def spec(self) -> ProbabilitySpec:
        """The resolved probabilities as the reach service takes them."""
        p = self.probability
        return ProbabilitySpec(kind=p.kind, p=p.p, window_s=p.window_s)

    def predict(self, reach: Estimate, seeds: list[str]) -> Prediction | None:
        """Calibrated adopters of ``seeds`` given their simulated ``reach`` (or ``None``)."""
        return self.model.predict(self.probability.kind, self.model_name, reach, seeds)


def reach_model_out(info: ReachModelInfo) -> ReachModelOut:
    """The response block naming the reach model that answered."""
    return ReachModelOut(**asdict(info))


def predicted_out(prediction: Prediction | None) -> PredictedOut | None:
    """Calibrated adopters as the response shows them (``None`` without a calibrated model)."""
    if prediction is None:
        return None
    return PredictedOut.model_validate(prediction, from_attributes=True)


def estimate_out(estimate: Estimate) -> EstimateOut:
    """A Monte-Carlo estimate as the response shows it."""
    return EstimateOut(
        mean=estimate.mean,
        std_error=estimate.std_error,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
    )


def optional_estimate_out(estimate: Estimate | None) -> EstimateOut | None:
    """:func:`estimate_out`, passing ``None`` (no qualified reach) through."""
    return None if estimate is None else estimate_out(estimate)


def plan_response(
    plan: CampaignPlan,
    request: PlanRequest,
    simulations: int,
    segment_size: int | None,
    answered: Answered,
) -> PlanResponse:
    """The answer to ``POST /api/v1/campaigns/plan`` for ``plan``."""
    est, base = plan.estimate, plan.baseline_estimate
    return PlanResponse(
        objective="qualified" if plan.objective == "qualified" else "reach",
        method=plan.method,
        model=request.model,
        probability=answered.probability,
        simulations=simulations,
        seed=plan.seed,
        item_id=request.item_id,
        segment=request.segment,
        segment_size=segment_size,
        chosen=[PlannedInfluencer(user_id=c.seed, gain=c.gain, cost=c.cost) for c in plan.chosen],
        reach=estimate_out(est.reach),
        qualified=optional_estimate_out(est.qualified),
        baseline=BaselineOut(
            seeds=plan.baseline,
            reach=estimate_out(base.reach),
            qualified=optional_estimate_out(base.qualified),
            predicted=predicted_out(answered.predict(base.reach, plan.baseline)),
        ),
        ratio=plan.ratio if plan.ratio != float("inf") else None,
        guarantee=plan.guarantee,
        rr_sets=plan.rr_sets,
        total_cost=plan.total_cost,
        calibration=answered.calibration if request.item_id is not None else None,
        reach_model=reach_model_out(answered.info),
        predicted=predicted_out(answered.predict(est.reach, [c.seed for c in plan.chosen])),
    )


def influencer_out(row: InfluencerReach, answered: Answered) -> Influencer:
    """One ranked account of ``GET /api/v1/influencers``."""
    return Influencer(
        user_id=row.user_id,
        followers=row.followers,
        reach=estimate_out(row.reach),
        qualified=optional_estimate_out(row.qualified),
        predicted=predicted_out(answered.predict(row.reach, [row.user_id])),
    )
