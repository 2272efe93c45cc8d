"""``POST /api/v1/reach`` (reach estimate of a seed set) and ``GET /api/v1/reach/calibration``.

Heavy work runs in plain ``def`` routes (FastAPI's threadpool), never on the event loop.
Bounds from the settings (seeds, simulations, projected time) answer 422 in FastAPI's
validation-error format, with the field in ``loc`` (:mod:`api.reach_bounds`); unknown users or
items answer 404.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends

from api.auth import read_access
from api.deps import ProfilesDep, ReachDep, SettingsDep
from api.errors import at_most
from api.observability import MetricsDep
from api.reach_answers import (
    Answered,
    estimate_out,
    optional_estimate_out,
    predicted_out,
    reach_model_out,
)
from api.reach_bounds import NOT_FOUND, bounded_simulations, run_checked, segment_members
from api.schemas.reach import CalibrationResponse, ReachRequest, ReachResponse, SeedReach

router = APIRouter(prefix="/reach", tags=["reach"], dependencies=[Depends(read_access)])

DEFAULT_SIMULATIONS: Final[int] = 1000


@router.post(
    "",
    response_model=ReachResponse,
    responses=NOT_FOUND,
    summary="Reach of a seed set (Monte-Carlo, with CI, by hop, per seed, overlaps)",
)
def post_reach(
    request: ReachRequest,
    reach: ReachDep,
    profiles: ProfilesDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ReachResponse:
    """Expected distinct users reached by ``seeds`` (seeds included), per-seed alone and
    marginal reach, pairwise overlaps and, with ``item_id`` and/or ``segment``, qualified
    reach (expected likely buyers reached, or reached members of the segment)."""
    at_most(("body", "seeds"), len(request.seeds), settings.max_seeds, "number of seeds")
    sims = bounded_simulations(
        request.simulations, settings, ("body", "simulations"), DEFAULT_SIMULATIONS
    )
    members = segment_members(request.segment, profiles)
    answered = Answered.resolve(
        request.probability, reach, model=request.model, num_seeds=len(request.seeds)
    )
    est = run_checked(
        lambda: reach.estimate(
            request.seeds,
            model=request.model,
            probability=answered.spec(),
            simulations=sims,
            seed=request.seed,
            item_id=request.item_id,
            segment=members,
            time_limit_s=settings.reach_time_limit_s,
        ),
        ("body", "simulations"),
        ("body",),
        ReachRequest.model_fields,
    )
    metrics.count_simulations("estimate", est.simulations)
    assert est.per_seed is not None and est.overlap is not None and est.shared is not None
    return ReachResponse(
        seeds=est.seeds,
        model=request.model,
        probability=answered.probability,
        simulations=est.simulations,
        seed=est.seed,
        item_id=request.item_id,
        reach=estimate_out(est.reach),
        audience=est.reach.mean - len(est.seeds),
        by_hop=est.by_hop,
        per_seed=[
            SeedReach(
                user_id=s.seed, alone=estimate_out(s.alone), marginal=estimate_out(s.marginal)
            )
            for s in est.per_seed
        ],
        overlap=est.overlap,
        shared=estimate_out(est.shared),
        qualified=optional_estimate_out(est.qualified),
        calibration=None if request.item_id is None else answered.calibration,
        segment=request.segment,
        segment_size=None if members is None else len(members),
        reach_model=reach_model_out(answered.info),
        predicted=predicted_out(answered.predict(est.reach, est.seeds)),
    )


@router.get(
    "/calibration",
    response_model=CalibrationResponse,
    summary="The last reach backtest: how far to trust reach estimates",
)
def get_calibration(reach: ReachDep) -> CalibrationResponse:
    """Whether requests that name no probability are answered by a calibrated model, why not
    if they are not, and the last backtest report (per model: Spearman with bootstrap CI,
    MAE, median absolute log error, interval coverage, mean predicted vs observed)."""
    info = reach.reach_model.info(reach.default_probability().kind)
    return CalibrationResponse(
        reach_model=reach_model_out(info),
        affinity=reach.affinity_method,
        backtest=reach.reach_model.report,
    )
