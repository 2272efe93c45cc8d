"""``POST /api/v1/reach``: reach estimate of a seed set, and the request bounds shared by the
reach, campaign and influencer routes.

Heavy work runs in plain ``def`` routes (FastAPI's threadpool), never on the event loop.
Bounds from the settings (seeds, simulations, candidates, k, projected time) answer 422 in
FastAPI's validation-error format, with the field in ``loc``; unknown users or items answer 404.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Final, TypeVar

from fastapi import APIRouter, Depends, status

from api.auth import read_access
from api.deps import ProfilesDep, ReachDep, SettingsDep
from api.errors import at_most, invalid, named
from api.observability import MetricsDep
from api.schemas.reach import (
    Answered,
    CalibrationResponse,
    EstimateOut,
    PredictedOut,
    ReachModelOut,
    ReachRequest,
    ReachResponse,
    SeedReach,
    Segment,
)
from api.schemas.recommendations import ErrorResponse
from graph.reach.estimate import WorkLimitError
from serving.profile import ProfileService
from serving.settings import Settings

router = APIRouter(prefix="/reach", tags=["reach"], dependencies=[Depends(read_access)])

DEFAULT_SIMULATIONS: Final[int] = 1000
NOT_FOUND: Final[dict[int | str, dict[str, object]]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorResponse, "description": "Unknown user or item."}
}
T = TypeVar("T")


def bounded_simulations(
    value: int | None, settings: Settings, loc: Sequence[str | int], default: int
) -> int:
    """``value`` (or ``min(default, max_simulations)``) checked against ``max_simulations``."""
    if value is None:
        return min(default, settings.max_simulations)
    at_most(loc, value, settings.max_simulations, "simulations")
    return value


def segment_members(segment: Segment | None, profiles: ProfileService) -> list[str] | None:
    """The served users of ``segment`` (``None`` without a segment)."""
    if segment is None:
        return None
    return profiles.segment_members(activity=segment.activity, tier=segment.value_tier)


def run_checked(
    work: Callable[[], T],
    simulations_loc: Sequence[str | int],
    loc: Sequence[str | int],
    fields: Collection[str] = (),
) -> T:
    """Run ``work``; a projected time over the limit is 422 at ``simulations_loc``, any other
    ``ValueError`` from the library is 422 at ``loc`` plus the field of ``fields`` its message
    names (:func:`api.errors.named`; unknown ids pass through: 404)."""
    try:
        return work()
    except WorkLimitError as exc:
        raise invalid(simulations_loc, str(exc), None, "work_limit") from exc
    except ValueError as exc:
        raise named(exc, loc, fields) from exc


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
        reach=EstimateOut.of(est.reach),
        audience=est.reach.mean - len(est.seeds),
        by_hop=est.by_hop,
        per_seed=[
            SeedReach(
                user_id=s.seed, alone=EstimateOut.of(s.alone), marginal=EstimateOut.of(s.marginal)
            )
            for s in est.per_seed
        ],
        overlap=est.overlap,
        shared=EstimateOut.of(est.shared),
        qualified=None if est.qualified is None else EstimateOut.of(est.qualified),
        calibration=None if request.item_id is None else answered.calibration,
        segment=request.segment,
        segment_size=None if members is None else len(members),
        reach_model=ReachModelOut.of(answered.info),
        predicted=PredictedOut.of(answered.predict(est.reach, est.seeds)),
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
        reach_model=ReachModelOut.of(info),
        affinity=reach.affinity_method,
        backtest=reach.reach_model.report,
    )
