"""Online metrics of an experiment per variant and segment, from the serve log (pure functions).

Definitions (one row per exposed user, :class:`UserOutcomes`):

* **exposed user**: a user with at least one serve of the experiment; their variant is the
  variant of their first serve (assignment is deterministic, so all their serves agree unless
  the experiment's shares were changed).
* **impressions**: items in the user's serves of the experiment (an item in a served response
  is one impression).
* **clicks**, **purchases**: attributed ``click`` / ``purchase`` events (explicit ``serve_id``
  or last touch, :mod:`graph.serve_log`) to those serves.
* **revenue**: the item prices of attributed purchases (items without a price add 0; a catalogue
  without prices has revenue 0 everywhere, reported as such).
* **CTR** = clicks / impressions; **purchases per impression** = purchases / impressions, both
  ratios of per-user sums; **conversion per user** = share of exposed users with an attributed
  purchase; **revenue per user** = mean over exposed users.
* **d-day retention**: share of exposed users active again (any interaction, serve or
  attributed event) more than one day and at most ``d`` days after their first exposure, among
  users exposed at least ``d`` days before ``now`` (younger users are not yet measurable).

Intervals and tests: :mod:`serving.experiment_stats` (delta method for per-impression ratios,
two-proportion z-test for shares of users, Poisson bootstrap for revenue per user).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.serve_log import Attribution, Serve
from serving import experiment_stats as st

DAY_S: Final[int] = 86_400
RETENTION_DAYS: Final[tuple[int, ...]] = (7, 30)
#: The caveat every report carries.
SEQUENTIAL_CAVEAT: Final[str] = (
    "Fixed-horizon tests: p-values hold their alpha only if the sample size was fixed in "
    "advance and the report is read once. Checking a running experiment repeatedly and "
    "stopping at the first p < alpha inflates false positives (several-fold over many looks); "
    "with several variants, metrics or segments, some will cross alpha by chance."
)


@dataclass(frozen=True)
class UserOutcomes:
    """Per exposed user, columnar (all arrays of length ``len(user_ids)``).

    ``retained[d]`` is 1 (returned), 0 (did not) or -1 (exposed less than ``d`` days ago).
    """

    user_ids: list[str]
    variant: NDArray[np.str_]
    impressions: NDArray[np.float64]
    clicks: NDArray[np.float64]
    purchases: NDArray[np.float64]
    revenue: NDArray[np.float64]
    retained: dict[int, NDArray[np.int8]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.user_ids)

    def select(self, mask: NDArray[np.bool_]) -> UserOutcomes:
        """The rows where ``mask`` is true."""
        keep = np.flatnonzero(mask)
        return UserOutcomes(
            [self.user_ids[i] for i in keep],
            self.variant[keep],
            self.impressions[keep],
            self.clicks[keep],
            self.purchases[keep],
            self.revenue[keep],
            {d: r[keep] for d, r in self.retained.items()},
        )


def user_outcomes(
    serves: Iterable[Serve],
    attributions: Iterable[Attribution],
    *,
    experiment: str,
    prices: Mapping[str, float],
    now: int,
    activity: Mapping[str, Sequence[int]] | None = None,
) -> UserOutcomes:
    """One row per user exposed to ``experiment``.

    Args:
        serves: Serves (any; those of other experiments are ignored).
        attributions: Attributed events (those to other serves are ignored).
        experiment: The experiment's name.
        prices: Item id -> price (missing: no price).
        now: The clock for retention eligibility, epoch seconds.
        activity: Extra activity times per user (e.g. their interactions) for retention.
    """
    first: dict[str, tuple[int, str]] = {}
    shown: dict[str, int] = {}
    seen: dict[str, list[int]] = {}
    serve_user: dict[str, str] = {}
    for s in serves:
        if s.experiment != experiment or s.variant is None:
            continue
        serve_user[s.serve_id] = s.user_id
        if s.user_id not in first or s.ts < first[s.user_id][0]:
            first[s.user_id] = (s.ts, s.variant)
        shown[s.user_id] = shown.get(s.user_id, 0) + len(s.items)
        seen.setdefault(s.user_id, []).append(s.ts)
    users = sorted(first)
    row = {u: i for i, u in enumerate(users)}
    clicks, purchases, revenue = (np.zeros(len(users)) for _ in range(3))
    for a in attributions:
        user = serve_user.get(a.serve_id)
        if user is None:
            continue
        seen[user].append(a.ts)
        if a.kind == "click":
            clicks[row[user]] += 1
        elif a.kind == "purchase":
            purchases[row[user]] += 1
            price = prices.get(a.item_id)
            if price is not None and math.isfinite(price):
                revenue[row[user]] += price
    retained = {}
    for days in RETENTION_DAYS:
        flags = np.zeros(len(users), dtype=np.int8)
        for i, u in enumerate(users):
            start = first[u][0]
            if now < start + days * DAY_S:
                flags[i] = -1
                continue
            times = [*seen[u], *(activity.get(u, ()) if activity else ())]
            flags[i] = any(start + DAY_S < t <= start + days * DAY_S for t in times)
        retained[days] = flags
    return UserOutcomes(
        users,
        np.array([first[u][1] for u in users], dtype=np.str_),
        np.array([shown[u] for u in users], dtype=np.float64),
        clicks,
        purchases,
        revenue,
        retained,
    )


@dataclass(frozen=True, slots=True)
class VariantMetrics:
    """The metrics of one variant within one segment (``segment`` ``"all"`` or e.g.
    ``"activity=active"``)."""

    variant: str
    segment: str
    users: int
    impressions: int
    clicks: int
    purchases: int
    revenue: float
    ctr: st.Interval
    purchases_per_impression: st.Interval
    conversion_per_user: st.Interval
    revenue_per_user: st.Interval
    retention: dict[str, st.Interval]
    retention_users: dict[str, int]


@dataclass(frozen=True, slots=True)
class Comparison:
    """``variant - control`` for one metric within one segment."""

    metric: str
    segment: str
    variant: str
    control: str
    test: str
    result: st.Difference
    significant: bool


@dataclass(frozen=True)
class ExperimentReport:
    """Everything ``GET /experiments/{name}/report`` answers."""

    experiment: str
    control: str
    alpha: float
    metrics: list[VariantMetrics]
    comparisons: list[Comparison]
    caveat: str = SEQUENTIAL_CAVEAT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``nan`` becomes ``None``)."""
        return _clean(asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def variant_metrics(
    outcomes: UserOutcomes, variant: str, segment: str = "all", level: float = 0.95
) -> VariantMetrics:
    """The metrics of ``outcomes``' rows (already one variant and segment)."""
    bought = int((outcomes.purchases > 0).sum())
    n = len(outcomes)
    retention, eligible = {}, {}
    for days, flags in outcomes.retained.items():
        ok = flags >= 0
        retention[f"{days}d"] = st.wilson(int((flags[ok] == 1).sum()), int(ok.sum()), level)
        eligible[f"{days}d"] = int(ok.sum())
    return VariantMetrics(
        variant=variant,
        segment=segment,
        users=n,
        impressions=int(outcomes.impressions.sum()),
        clicks=int(outcomes.clicks.sum()),
        purchases=int(outcomes.purchases.sum()),
        revenue=float(outcomes.revenue.sum()),
        ctr=st.ratio(outcomes.clicks, outcomes.impressions, level),
        purchases_per_impression=st.ratio(outcomes.purchases, outcomes.impressions, level),
        conversion_per_user=st.wilson(bought, n, level),
        revenue_per_user=st.mean(outcomes.revenue, level),
        retention=retention,
        retention_users=eligible,
    )


def compare(
    control: UserOutcomes,
    treatment: UserOutcomes,
    *,
    names: tuple[str, str],
    segment: str = "all",
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 1000,
) -> list[Comparison]:
    """Tests of ``treatment - control`` on every metric (``names``: control, treatment)."""
    level = 1 - alpha
    results: list[tuple[str, str, st.Difference]] = [
        (
            metric,
            "delta_method",
            st.ratio_difference(
                (getattr(control, events), control.impressions),
                (getattr(treatment, events), treatment.impressions),
                level,
            ),
        )
        for metric, events in (("ctr", "clicks"), ("purchases_per_impression", "purchases"))
    ]
    results += [
        (
            "conversion_per_user",
            "two_proportion_z",
            st.two_proportion(
                int((control.purchases > 0).sum()),
                len(control),
                int((treatment.purchases > 0).sum()),
                len(treatment),
                level,
            ),
        ),
        (
            "revenue_per_user",
            "poisson_bootstrap",
            st.bootstrap_mean_difference(
                control.revenue, treatment.revenue, seed=seed, resamples=resamples, level=level
            ),
        ),
    ]
    for days in sorted(set(control.retained) & set(treatment.retained)):
        c, t = control.retained[days], treatment.retained[days]
        results.append(
            (
                f"retention_{days}d",
                "two_proportion_z",
                st.two_proportion(
                    int((c == 1).sum()),
                    int((c >= 0).sum()),
                    int((t == 1).sum()),
                    int((t >= 0).sum()),
                    level,
                ),
            )
        )
    return [
        Comparison(metric, segment, names[1], names[0], test, r, bool(r.p_value < alpha))
        for metric, test, r in results
    ]


def experiment_report(
    outcomes: UserOutcomes,
    *,
    experiment: str,
    variants: Sequence[str],
    segments: Mapping[str, Mapping[str, str]] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 1000,
) -> ExperimentReport:
    """Metrics per variant (overall and per segment) and every variant against the first.

    Args:
        outcomes: From :func:`user_outcomes`.
        experiment: The experiment's name.
        variants: Variant names, the control first (holdout included if it has one).
        segments: Per user id, segment kind -> label (e.g. ``{"activity": "active",
            "value_tier": "high"}``); users without an entry are in ``unknown``.
        alpha: Significance level of the tests (intervals are at ``1 - alpha``).
        seed: Seed of the bootstrap.
        resamples: Bootstrap resamples.

    Raises:
        ValueError: if ``variants`` is empty or ``alpha`` is outside (0, 1).
    """
    if not variants:
        raise ValueError("variants must name at least the control")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    cells: list[tuple[str, NDArray[np.bool_]]] = [("all", np.ones(len(outcomes), dtype=bool))]
    if segments is not None:
        kinds = sorted({k for labels in segments.values() for k in labels})
        for kind in kinds:
            labels = np.array(
                [segments.get(u, {}).get(kind, "unknown") for u in outcomes.user_ids],
                dtype=np.str_,
            )
            cells += [(f"{kind}={label}", labels == label) for label in sorted(set(labels))]
    control = variants[0]
    metrics: list[VariantMetrics] = []
    comparisons: list[Comparison] = []
    for segment, in_segment in cells:
        groups = {v: outcomes.select(in_segment & (outcomes.variant == v)) for v in variants}
        metrics += [variant_metrics(groups[v], v, segment, 1 - alpha) for v in variants]
        for v in variants[1:]:
            comparisons += compare(
                groups[control],
                groups[v],
                names=(control, v),
                segment=segment,
                alpha=alpha,
                seed=seed,
                resamples=resamples,
            )
    return ExperimentReport(experiment, control, alpha, metrics, comparisons)
