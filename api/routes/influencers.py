"""``GET /api/v1/influencers``: accounts ranked by (qualified) reach alone."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import read_access
from api.deps import ProfilesDep, ReachDep, SettingsDep
from api.errors import at_most
from api.observability import MetricsDep
from api.reach_answers import Answered, influencer_out, reach_model_out
from api.reach_bounds import NOT_FOUND, bounded_simulations, run_checked, segment_members
from api.schemas.reach import InfluencersResponse, Probability, Segment
from graph.reach.estimate import make_seed
from serving.profile import ActivitySegment, ValueTier

router = APIRouter(prefix="/influencers", tags=["influencers"], dependencies=[Depends(read_access)])

DEFAULT_K: Final[int] = 20
DEFAULT_SIMULATIONS: Final[int] = 200
#: The bound of ``Probability.window_s`` (ten years), checked here as a query bound (422).
MAX_WINDOW_S: Final[int] = 10 * 365 * 24 * 3600
DEFAULT_WINDOW_S: Final[int] = 7 * 24 * 3600


@router.get(
    "",
    response_model=InfluencersResponse,
    responses=NOT_FOUND,
    summary="Top accounts by reach alone (qualified reach alone with item_id)",
)
def get_influencers(
    reach: ReachDep,
    profiles: ProfilesDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: Annotated[
        int | None,
        Query(
            ge=1, description="Accounts to return, 1..max_plan_k [default: min(20, max_plan_k)]."
        ),
    ] = None,
    item_id: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Target item.")
    ] = None,
    activity: Annotated[
        ActivitySegment | None, Query(description="Target segment: activity (by recency).")
    ] = None,
    value_tier: Annotated[
        ValueTier | None, Query(description="Target segment: RFM value tier.")
    ] = None,
    model: Annotated[Literal["ic", "lt"], Query()] = "ic",
    probability: Annotated[
        Literal["calibrated", "uniform", "weighted_cascade", "learned"] | None,
        Query(
            description="Edge probabilities [default: calibrated when the server has a "
            "backtested model, else weighted_cascade]."
        ),
    ] = None,
    p: Annotated[float, Query(ge=0.0, le=1.0, description="probability=uniform.")] = 0.05,
    window_s: Annotated[
        int, Query(gt=0, le=MAX_WINDOW_S, description="probability=learned.")
    ] = DEFAULT_WINDOW_S,
    simulations: Annotated[
        int | None, Query(ge=2, description="Worlds per account [default: 200].")
    ] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**64 - 1)] = None,
) -> InfluencersResponse:
    """The ``k`` accounts with the largest reach alone among the ``max(3 k, k + 20)``
    most-followed (all estimated on the same worlds), best first; ranked by qualified reach
    alone with ``item_id`` and/or a segment (``activity``, ``value_tier``)."""
    if k is None:
        k = min(DEFAULT_K, settings.max_plan_k)
    at_most(("query", "k"), k, settings.max_plan_k, "k")
    sims = bounded_simulations(simulations, settings, ("query", "simulations"), DEFAULT_SIMULATIONS)
    requested = (
        None if probability is None else Probability(kind=probability, p=p, window_s=window_s)
    )
    answered = Answered.resolve(requested, reach, model=model, num_seeds=1)
    segment = (
        None
        if activity is None and value_tier is None
        else Segment(activity=activity, value_tier=value_tier)
    )
    members = segment_members(segment, profiles)
    used_seed = make_seed(seed)
    rows = run_checked(
        lambda: reach.influencers(
            k,
            item_id=item_id,
            segment=members,
            model=model,
            probability=answered.spec(),
            simulations=sims,
            seed=used_seed,
            pool_size=min(max(3 * k, k + 20), settings.max_candidates),
            time_limit_s=settings.reach_time_limit_s,
        ),
        ("query", "simulations"),
        ("query",),
    )
    metrics.count_simulations("influencers", sims)
    return InfluencersResponse(
        item_id=item_id,
        model=model,
        probability=answered.probability,
        simulations=sims,
        seed=used_seed,
        segment=segment,
        segment_size=None if members is None else len(members),
        ranked_by="reach" if item_id is None and segment is None else "qualified",
        influencers=[influencer_out(row, answered) for row in rows],
        calibration=None if item_id is None else answered.calibration,
        reach_model=reach_model_out(answered.info),
    )
