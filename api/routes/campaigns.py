"""``POST /api/v1/campaigns/plan``: choose influencers for a count or a budget."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends

from api.auth import read_access
from api.deps import ProfilesDep, ReachDep, SettingsDep
from api.errors import at_most
from api.observability import MetricsDep
from api.reach_bounds import NOT_FOUND, bounded_simulations, run_checked, segment_members
from api.schemas.reach import Answered, PlanRequest, PlanResponse

router = APIRouter(prefix="/campaigns", tags=["campaigns"], dependencies=[Depends(read_access)])

DEFAULT_SIMULATIONS: Final[int] = 1000


@router.post(
    "/plan",
    response_model=PlanResponse,
    responses=NOT_FOUND,
    summary="Plan a campaign: influencers maximising (qualified) reach for k or a budget",
)
def plan_campaign(
    request: PlanRequest,
    reach: ReachDep,
    profiles: ProfilesDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> PlanResponse:
    """IMM for ``k`` (guarantee ``1 - 1/e - epsilon``), CELF best-of for a budget
    (``1/2 (1 - 1/e)``); the objective is qualified reach when ``item_id`` or ``segment`` is
    given (reach within the segment, weighted by affinity for the item). Returns
    the chosen influencers in order with marginal gains and the top-followers baseline."""
    if request.k is not None:
        at_most(("body", "k"), request.k, settings.max_plan_k, "k")
    if request.candidates is not None:
        at_most(
            ("body", "candidates"),
            len(request.candidates),
            settings.max_candidates,
            "number of candidates",
        )
    if request.costs is not None and request.candidates is None:
        at_most(("body", "costs"), len(request.costs), settings.max_candidates, "number of costs")
    sims = bounded_simulations(
        request.simulations, settings, ("body", "simulations"), DEFAULT_SIMULATIONS
    )
    members = segment_members(request.segment, profiles)
    answered = Answered.resolve(
        request.probability, reach, model=request.model, num_seeds=request.k
    )
    plan = run_checked(
        lambda: reach.plan(
            k=request.k,
            budget=request.budget,
            costs=request.costs,
            candidates=request.candidates,
            model=request.model,
            probability=answered.spec(),
            simulations=sims,
            seed=request.seed,
            item_id=request.item_id,
            segment=members,
            pool_size=settings.max_candidates,
            max_rr_sets=settings.max_rr_sets,
            time_limit_s=settings.reach_time_limit_s,
        ),
        ("body", "simulations"),
        ("body",),
        PlanRequest.model_fields,
    )
    metrics.count_simulations("plan", sims)
    return PlanResponse.of(
        plan, request, sims, None if members is None else len(members), answered
    )
