"""An experiment's report from a store's serve log and the served graph (used by
``GET /api/v1/experiments/{name}/report`` and ``socialrec experiment report``).

Segments (activity, value tier) are the users' profile segments at report time
(:mod:`serving.profile`), not at exposure; retention counts the users' interactions in the
served graph (live events included in the API) besides their serves and attributed events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from graph.serve_log import Attribution, Serve, ServeLog
from serving.experiments import Experiment
from serving.online_metrics import ExperimentReport, experiment_report, user_outcomes
from serving.profile import ProfileService


@dataclass(frozen=True)
class ExperimentLog:
    """The serves of one experiment and the attributions that may point at them."""

    serves: list[Serve]
    attributions: list[Attribution]


def read_log(store: ServeLog, experiment: Experiment) -> ExperimentLog:
    """The experiment's serves and the attributions since it was created, from ``store``."""
    since = experiment.created_ts
    serves = [
        s for page in store.iter_serves(since) for s in page if s.experiment == experiment.name
    ]
    attributions = [a for page in store.iter_attributions(since) for a in page]
    return ExperimentLog(serves, attributions)


def segments_of(profiles: ProfileService, user_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Activity segment and value tier of each served user (others are left out)."""
    out: dict[str, dict[str, str]] = {}
    for user_id in user_ids:
        if profiles.live.has_user(user_id):
            p = profiles.profile(user_id)
            out[user_id] = {"activity": p.activity_segment, "value_tier": p.value_tier}
    return out


def build_report(
    experiment: Experiment,
    log: ExperimentLog,
    profiles: ProfileService,
    *,
    now: int,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 1000,
) -> ExperimentReport:
    """Metrics per variant and segment with the tests of every variant against the control.

    Raises:
        ValueError: if ``alpha`` is outside (0, 1).
    """
    live = profiles.live
    snap = live.snapshot
    prices = {
        item: float(price)
        for item, price in zip(snap.item_ids, snap.item_price.tolist(), strict=True)
        if math.isfinite(price)
    }
    users = {s.user_id for s in log.serves}
    activity = {u: live.history(u).ts.tolist() for u in users if live.has_user(u)}
    outcomes = user_outcomes(
        log.serves,
        log.attributions,
        experiment=experiment.name,
        prices=prices,
        now=now,
        activity=activity,
    )
    return experiment_report(
        outcomes,
        experiment=experiment.name,
        variants=experiment.variant_names,
        segments=segments_of(profiles, outcomes.user_ids),
        alpha=alpha,
        seed=seed,
        resamples=resamples,
    )
