"""Campaigns: ``POST /api/v1/campaigns/plan`` chooses influencers for a count or a budget;
``POST /api/v1/campaigns`` records a launched campaign with its predicted outcome and
``GET /api/v1/campaigns/{campaign_id}/report`` compares it with the adopters observed since."""

from __future__ import annotations

import time
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Path, status

from api.auth import read_access, require_api_key
from api.deps import ProfilesDep, ReachDep, SettingsDep, StateDep
from api.errors import at_most
from api.observability import MetricsDep
from api.reach_answers import Answered, plan_response
from api.reach_bounds import NOT_FOUND, bounded_simulations, run_checked, segment_members
from api.schemas.campaigns import CampaignOut, CampaignReportOut, LaunchRequest
from api.schemas.reach import PlanRequest, PlanResponse
from api.schemas.recommendations import ErrorResponse
from graph.store import StoreUnavailableError
from serving.campaigns import Campaign, campaign_report, launch
from serving.events import StoreGateway

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
    return plan_response(plan, request, sims, None if members is None else len(members), answered)


def _store(gateway: StoreGateway | None) -> StoreGateway:
    if gateway is None:
        raise StoreUnavailableError("no graph store is configured for this server")
    return gateway


@router.post(
    "",
    response_model=CampaignOut,
    responses=NOT_FOUND,
    dependencies=[Depends(require_api_key)],
    summary="Record a launched campaign with the reach model's prediction",
)
def launch_campaign(
    request: LaunchRequest, state: StateDep, settings: SettingsDep, metrics: MetricsDep
) -> CampaignOut:
    """Estimate the KOLs' reach for the item with the served reach model (calibrated adopters
    with 50%/90% intervals when a backtest left a model, else expected buyers reached) and
    store the campaign with that prediction in the graph store; answers the record."""
    at_most(("body", "kols"), len(request.kols), settings.max_seeds, "number of kols")
    sims = bounded_simulations(
        request.simulations, settings, ("body", "simulations"), DEFAULT_SIMULATIONS
    )
    now = int(time.time())
    campaign = run_checked(
        lambda: launch(
            state.reach,
            request.kols,
            request.item_id,
            start_ts=now if request.start is None else request.start,
            now=now,
            simulations=sims,
            seed=request.seed,
            name=request.name,
            time_limit_s=settings.reach_time_limit_s,
        ),
        ("body", "simulations"),
        ("body",),
        LaunchRequest.model_fields,
    )
    metrics.count_simulations("estimate", campaign.simulations)
    body = campaign.to_json()
    _store(state.store).call(
        lambda store: store.record_campaign(campaign.campaign_id, now, campaign.kols, body)
    )
    return CampaignOut.model_validate(campaign)


@router.get(
    "/{campaign_id}/report",
    response_model=CampaignReportOut,
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorResponse}},
    summary="A launched campaign's predicted against observed adopters, per KOL",
)
def get_campaign_report(
    campaign_id: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep
) -> CampaignReportOut:
    """Adopters of the item from the launch to the end of the prediction's horizon (or now),
    KOLs left out, each credited to the nearest KOL in the friend graph; against the
    prediction stored at launch (docs/online-evaluation.md)."""
    bodies = _store(state.store).call(lambda store: store.campaign_bodies(campaign_id))
    if not bodies:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown campaign {campaign_id!r}")
    report = campaign_report(Campaign.from_json(bodies[0]), state.live, now=int(time.time()))
    return CampaignReportOut.model_validate(report)
