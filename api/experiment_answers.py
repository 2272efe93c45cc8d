"""Conversions between the experiment routes' bodies (:mod:`api.schemas.experiments`) and the
serving layer's definitions and reports."""

from __future__ import annotations

from api.schemas.experiments import ExperimentBody, ExperimentOut, ReportOut, VariantBody
from serving.experiments import Experiment, Variant
from serving.online_metrics import ExperimentReport


def to_experiment(body: ExperimentBody) -> Experiment:
    """The definition (validated again by :func:`serving.experiments.validate`)."""
    return Experiment(
        body.name,
        tuple(Variant(**v.model_dump()) for v in body.variants),
        holdout_share=body.holdout_share,
        salt=body.salt or "",
        active=body.active,
    )


def experiment_out(e: Experiment) -> ExperimentOut:
    """A stored experiment as the routes answer it."""
    return ExperimentOut(
        name=e.name,
        variants=[VariantBody.model_validate(v, from_attributes=True) for v in e.variants],
        holdout_share=e.holdout_share,
        salt=e.salt,
        active=e.active,
        control=e.control,
        created_ts=e.created_ts,
    )


def report_out(report: ExperimentReport, *, generated_ts: int, serves: int) -> ReportOut:
    """An experiment's report with when it was generated and the serves it read."""
    return ReportOut(generated_ts=generated_ts, serves=serves, **report.to_dict())
