"""``/api/v1/experiments``: define, list, stop A/B experiments and read their reports."""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from api.auth import read_access, require_api_key
from api.deps import ExperimentsDep, StateDep
from api.errors import FieldError
from api.experiment_answers import experiment_out, report_out, to_experiment
from api.schemas.experiments import ExperimentBody, ExperimentList, ExperimentOut, ReportOut
from serving.experiment_report import build_report, read_log
from serving.experiments import Experiment, ExperimentError

router = APIRouter(prefix="/experiments", tags=["experiments"])

NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    status.HTTP_404_NOT_FOUND: {"description": "No experiment of that name."}
}
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def _get(experiments: ExperimentsDep, name: str) -> Experiment:
    try:
        return experiments.registry.get(name)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from exc


@router.post(
    "",
    response_model=ExperimentOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_api_key)],
    responses={status.HTTP_409_CONFLICT: {"description": "Name taken, or another is active."}},
    summary="Create an experiment (variants, traffic shares, holdout)",
)
def create_experiment(
    body: ExperimentBody, experiments: ExperimentsDep, state: StateDep
) -> ExperimentOut:
    """Users are assigned by a salted SHA-256 of their id; while it is active, every
    recommendation and feed response names the variant that served it and is logged with
    it. Shares plus ``holdout_share`` must sum to 1; one experiment is active at a time; a
    variant's checkpoint must be readable and trained on the served snapshot."""
    try:
        experiment = to_experiment(body)
        experiments.check(state, experiment)
    except ValueError as exc:  # ExperimentError, or a checkpoint that cannot be served
        raise FieldError(("body", "variants"), str(exc), None) from exc
    try:
        created = experiments.registry.create(experiment)
    except ExperimentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return experiment_out(created)


@router.get(
    "",
    response_model=ExperimentList,
    dependencies=[Depends(read_access)],
    summary="All experiments, oldest first",
)
def list_experiments(experiments: ExperimentsDep) -> ExperimentList:
    return ExperimentList(
        experiments=[experiment_out(e) for e in experiments.registry.experiments()]
    )


@router.get(
    "/{name}",
    response_model=ExperimentOut,
    dependencies=[Depends(read_access)],
    responses=NOT_FOUND,
    summary="One experiment",
)
def get_experiment(name: Name, experiments: ExperimentsDep) -> ExperimentOut:
    return experiment_out(_get(experiments, name))


@router.post(
    "/{name}/stop",
    response_model=ExperimentOut,
    dependencies=[Depends(require_api_key)],
    responses=NOT_FOUND,
    summary="Stop assigning users (the log and report stay)",
)
def stop_experiment(name: Name, experiments: ExperimentsDep) -> ExperimentOut:
    _get(experiments, name)
    return experiment_out(experiments.registry.stop(name))


@router.get(
    "/{name}/report",
    response_model=ReportOut,
    dependencies=[Depends(read_access)],
    responses=NOT_FOUND,
    summary="Metrics per variant and segment, with intervals and tests against the control",
)
def experiment_report(
    name: Name,
    experiments: ExperimentsDep,
    state: StateDep,
    alpha: Annotated[float, Query(gt=0, le=0.2, description="Test level.")] = 0.05,
) -> ReportOut:
    """Impressions, CTR, purchases per impression, conversion per user, revenue (item prices
    of attributed purchases) and 7/30-day retention per variant, overall and by activity
    segment and value tier, with ``1 - alpha`` intervals; every variant (the holdout too)
    against the first. Fixed-horizon tests: see ``caveat``."""
    experiment = _get(experiments, name)
    if state.store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the graph store is not open")
    if state.serves is not None:
        state.serves.flush()  # serves still queued count too
    log = state.store.call(lambda store: read_log(store, experiment))
    report = build_report(experiment, log, state.profiles, now=int(time.time()), alpha=alpha)
    return report_out(report, generated_ts=int(time.time()), serves=len(log.serves))
