"""The reach backtest: predict held-out cascades from their first adopters, score each model.

Items are split by the time of their first adoption (:func:`graph.reach.adoptions.split_by_time`);
every candidate is fitted on the older part only and predicts each newer item's distinct
adopters within the horizon (seeds included) from its first ``k`` adopters. Candidates:

* ``calibrated`` — :mod:`graph.reach.calibrate` (learned IC + background, fitted level,
  predictive intervals from inner-split residuals);
* ``weighted_cascade``, ``uniform`` (``p = uniform_p``), ``learned`` (Goyal et al. 2010 with
  today's 7-day window) — Monte-Carlo IC reach; their intervals are the Monte-Carlo ones
  (``mean +- z * SE``), the only intervals they report;
* ``credit_distribution`` — :mod:`graph.reach.credit` (a point estimate, no interval);
* yardsticks ``constant_median`` (the fit part's median size, intervals from its quantiles)
  and ``seed_followers`` (``k`` + the seeds' follower count, a ranking yardstick).

Scores per model: Spearman with a bootstrap 95% CI, MAE of the point prediction (the median
for ``calibrated`` and ``constant_median``, the mean otherwise), median absolute log error
``|log(pred / observed)|``, coverage of the 50% and 90% intervals, mean predicted (expected
value) and mean observed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.reach.adoptions import AdoptionLog, Cascades, TimeSplit, check_kinds, split_by_time
from graph.reach.calibrate import (
    CalibratedReach,
    Progress,
    fit_calibrated,
    predict_cascades,
    raw_reach,
)
from graph.reach.credit import credit_spread, set_spread
from graph.reach.influence_graph import InfluenceGraph, uniform, weighted_cascade
from graph.reach.learned import learned_from_log
from graph.reach.log_check import DAY, UnusableLogError, check_log, choose_horizon

if TYPE_CHECKING:
    from graph.snapshot import Snapshot

MODELS: Final[tuple[str, ...]] = (
    "calibrated",
    "weighted_cascade",
    "uniform",
    "learned",
    "credit_distribution",
    "constant_median",
    "seed_followers",
)
Z50: Final[float] = 0.6744897501960817
Z90: Final[float] = 1.6448536269514722
#: File names in the output directory (the serving side reads the model file; the CLI
#: draws the plot).
REPORT_FILE: Final[str] = "reach_backtest.json"
PLOT_FILE: Final[str] = "reach_backtest.png"
MODEL_FILE: Final[str] = "reach_model.json"
#: Fields of a calibrated Prediction, in the order of the Predictions columns.
PREDICTION_FIELDS: Final[tuple[str, ...]] = (
    "expected",
    "median",
    "low50",
    "high50",
    "low90",
    "high90",
)


@dataclass(frozen=True)
class Predictions:
    """One model's predictions for the evaluated cascades (arrays aligned with them)."""

    expected: NDArray[np.float64]
    point: NDArray[np.float64]
    low50: NDArray[np.float64]
    high50: NDArray[np.float64]
    low90: NDArray[np.float64]
    high90: NDArray[np.float64]

    @classmethod
    def from_mc(cls, mean: NDArray[np.float64], se: NDArray[np.float64]) -> Predictions:
        """A Monte-Carlo estimate with its (Monte-Carlo only) intervals."""
        return cls(mean, mean, mean - Z50 * se, mean + Z50 * se, mean - Z90 * se, mean + Z90 * se)

    @classmethod
    def point_only(cls, value: NDArray[np.float64]) -> Predictions:
        return cls(value, value, value, value, value, value)


@dataclass(frozen=True)
class ModelScore:
    """Backtest figures of one model (``None`` where undefined, e.g. a constant's Spearman)."""

    model: str
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    mae: float
    median_abs_log_error: float
    coverage50: float
    coverage90: float
    mean_predicted: float
    mean_observed: float


@dataclass
class BacktestReport:
    """The result of :func:`run_backtest` (:meth:`to_dict` is what the JSON file holds).

    Attributes:
        options: kinds, horizon_s, holdout, seeds_per_item, uniform_p, learned_window_s,
            simulations, seed.
        period: ``fit_start``, ``cutoff`` (first held-out adoption time), ``end``.
        counts: adoptions, untimed, fit_adoptions, held_out (evaluated), censored, too_small.
        scores: One :class:`ModelScore` per model, in ``MODELS`` order.
        items: Per evaluated item: id, seeds, observed and each model's point prediction, plus
            the calibrated model's intervals.
        calibrated: Options chosen for the calibrated model (window, smoothing, prior, level).
        rank_gap_to_followers: The calibrated model's Spearman minus the seed follower count's
            over the same items, with a paired bootstrap 95% CI (``difference``, ``ci``), or
            ``None`` where either is undefined (:func:`spearman_gap`).
        warnings: Plain statements when the calibrated model loses to a yardstick.
    """

    options: dict[str, Any]
    period: dict[str, int]
    counts: dict[str, int]
    scores: list[ModelScore]
    items: list[dict[str, Any]]
    calibrated: dict[str, Any]
    rank_gap_to_followers: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def score(self, model: str) -> ModelScore:
        """The scores of ``model``.

        Raises:
            ValueError: if ``model`` was not scored.
        """
        for s in self.scores:
            if s.model == model:
                return s
        raise ValueError(f"model must be one of {[s.model for s in self.scores]}, got {model!r}")

    def headline(self) -> dict[str, Any]:
        """The figures a response quotes: the calibrated model's scores, the fit period and
        the warnings (where it loses to a yardstick)."""
        cal = self.score("calibrated")
        return {
            "spearman": cal.spearman,
            "spearman_ci": cal.spearman_ci,
            "mae": cal.mae,
            "mae_constant_median": self.score("constant_median").mae,
            "coverage50": cal.coverage50,
            "coverage90": cal.coverage90,
            "held_out_items": self.counts["held_out"],
            "fit_start": self.period["fit_start"],
            "cutoff": self.period["cutoff"],
            "end": self.period["end"],
            "horizon_s": self.options["horizon_s"],
            "warnings": list(self.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def _spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float | None:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def score_predictions(
    name: str,
    pred: Predictions,
    observed: NDArray[np.int64],
    *,
    bootstrap: int = 500,
    seed: int = 0,
) -> ModelScore:
    """Backtest figures of one model against the observed sizes (bootstrap over items)."""
    obs = observed.astype(np.float64)
    rho = _spearman(pred.expected, obs)
    ci: tuple[float, float] | None = None
    if rho is not None:
        rng = np.random.default_rng(seed)
        draws = [
            _spearman(pred.expected[idx], obs[idx])
            for idx in rng.integers(0, obs.shape[0], size=(bootstrap, obs.shape[0]))
        ]
        vals = np.array([d for d in draws if d is not None])
        if vals.size:
            ci = (float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975)))
    point = np.maximum(pred.point, 1e-9)
    return ModelScore(
        model=name,
        spearman=rho,
        spearman_ci=ci,
        mae=float(np.mean(np.abs(pred.point - obs))),
        median_abs_log_error=float(np.median(np.abs(np.log(point / obs)))),
        coverage50=float(np.mean((pred.low50 <= obs) & (obs <= pred.high50))),
        coverage90=float(np.mean((pred.low90 <= obs) & (obs <= pred.high90))),
        mean_predicted=float(np.mean(pred.expected)),
        mean_observed=float(np.mean(obs)),
    )


def spearman_gap(
    first: NDArray[np.float64],
    second: NDArray[np.float64],
    observed: NDArray[np.int64],
    *,
    bootstrap: int = 500,
    seed: int = 0,
) -> tuple[float, tuple[float, float]] | None:
    """Spearman of ``first`` with ``observed`` minus that of ``second``, with a 95% CI from a
    paired bootstrap over items (both rank the same resampled items, so the noise they share
    cancels); ``None`` where either correlation is undefined (constant predictions)."""
    obs = observed.astype(np.float64)
    a, b = _spearman(first, obs), _spearman(second, obs)
    if a is None or b is None:
        return None
    rng = np.random.default_rng(seed)
    draws = []
    for idx in rng.integers(0, obs.shape[0], size=(bootstrap, obs.shape[0])):
        da, db = _spearman(first[idx], obs[idx]), _spearman(second[idx], obs[idx])
        if da is not None and db is not None:
            draws.append(da - db)
    if not draws:
        return None
    low, high = np.quantile(np.array(draws), [0.025, 0.975])
    return a - b, (float(low), float(high))


def _fit_sizes(split: TimeSplit, seeds_per_item: int) -> NDArray[np.int64]:
    """Cascade sizes of the fit part's own items (full horizons before the cutoff)."""
    inner = split_by_time(
        split.fit,
        horizon_s=split.horizon_s,
        holdout=0.999,
        seeds_per_item=seeds_per_item,
        end=split.cutoff - 1,
    )
    return inner.held_out.observed


def _baselines(
    snapshot: Snapshot,
    graph: InfluenceGraph,
    split: TimeSplit,
    *,
    uniform_p: float,
    learned_window_s: int,
    simulations: int,
    seed: int,
    jobs: int | None,
    progress: Progress | None,
) -> dict[str, Predictions]:
    cases = split.held_out
    k = cases.seeds.shape[1]
    learned = learned_from_log(
        graph, split.fit.as_snapshot(snapshot), window_s=learned_window_s, kinds=split.fit.kinds[:1]
    ).graph
    out: dict[str, Predictions] = {}
    graphs = {
        "weighted_cascade": weighted_cascade(graph),
        "uniform": uniform(graph, uniform_p),
        "learned": learned,
    }
    for i, (name, g) in enumerate(graphs.items()):
        if progress is not None:
            progress("baselines", i, len(graphs) + 1)
        mean, se = raw_reach(g, cases.seeds, simulations=simulations, seed=seed, jobs=jobs)
        out[name] = Predictions.from_mc(mean, se)
    spread = credit_spread(graph, split.fit, window_s=split.horizon_s)
    out["credit_distribution"] = Predictions.point_only(
        np.array([set_spread(spread, row.tolist()) for row in cases.seeds])
    )
    sizes = _fit_sizes(split, k)
    if sizes.size == 0:
        sizes = np.array([k], dtype=np.int64)
    q = {p: float(np.quantile(sizes, p)) for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
    ones = np.ones(len(cases))
    out["constant_median"] = Predictions(
        ones * float(np.mean(sizes)),
        ones * q[0.5],
        ones * q[0.25],
        ones * q[0.75],
        ones * q[0.05],
        ones * q[0.95],
    )
    followers = graph.out_degree[cases.seeds].sum(axis=1).astype(np.float64)
    out["seed_followers"] = Predictions.point_only(k + followers)
    if progress is not None:
        progress("baselines", len(graphs) + 1, len(graphs) + 1)
    return out


def run_backtest(
    snapshot: Snapshot,
    *,
    kinds: Sequence[str] = ("purchase",),
    horizon_s: int | None = None,
    holdout: float = 0.3,
    seeds_per_item: int = 1,
    uniform_p: float = 0.05,
    learned_window_s: int = 7 * DAY,
    simulations: int = 200,
    seed: int = 0,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> tuple[BacktestReport, CalibratedReach]:
    """Backtest every candidate on ``snapshot``'s log, then fit the model to serve.

    Args:
        snapshot: The snapshot (social edges of both kinds and the interaction log).
        kinds: Interaction kinds that count as adoption.
        horizon_s: Observed size = distinct adopters within this many seconds of the first
            (``None``: the longest horizon the log supports, see
            :func:`graph.reach.log_check.choose_horizon`).
        holdout: Share of items (the newest by first adoption) held out, in (0, 1).
        seeds_per_item: The first ``k`` adopters are the seeds.
        uniform_p: ``p`` of the uniform candidate (today's default 0.05).
        learned_window_s: Window of the ``learned`` candidate (today's default 7 days).
        simulations: Monte-Carlo worlds per seed set.
        seed: Random seed (simulations, bootstrap).
        jobs: Simulation threads.
        progress: Optional ``(stage, done, total)`` callback.

    Returns:
        The report, and the calibrated model refitted on the whole log (the same procedure,
        one period later) with the report's headline figures attached: the model to serve.

    Raises:
        UnusableLogError: with the reason, when the log is too small (see ``check_log``).
        ValueError: on bad options.
    """
    kinds = check_kinds(kinds)
    if not 0.0 <= uniform_p <= 1.0:
        raise ValueError(f"uniform_p must be in [0, 1], got {uniform_p!r}")
    graph = InfluenceGraph.from_snapshot(snapshot)
    log = AdoptionLog.from_snapshot(snapshot, kinds)
    if horizon_s is None:
        horizon_s, check = choose_horizon(
            graph, log, holdout=holdout, seeds_per_item=seeds_per_item
        )
    else:
        check = check_log(
            graph, log, horizon_s=horizon_s, holdout=holdout, seeds_per_item=seeds_per_item
        )
    if not check.usable:
        raise UnusableLogError(f"no usable adoption log: {check.reason}")
    split = split_by_time(log, horizon_s=horizon_s, holdout=holdout, seeds_per_item=seeds_per_item)
    common: dict[str, Any] = {"simulations": simulations, "seed": seed, "jobs": jobs}
    model = fit_calibrated(
        snapshot,
        graph,
        split.fit,
        horizon_s=horizon_s,
        seeds_per_item=seeds_per_item,
        end=split.cutoff - 1,
        progress=progress,
        **common,
    )
    preds, _ = predict_cascades(model, graph, split.held_out, **common)
    results = {
        "calibrated": Predictions(
            *(np.array([getattr(p, name) for p in preds]) for name in PREDICTION_FIELDS)
        )
    }
    results |= _baselines(
        snapshot,
        graph,
        split,
        uniform_p=uniform_p,
        learned_window_s=learned_window_s,
        progress=progress,
        **common,
    )
    obs = split.held_out.observed
    scores = [score_predictions(name, results[name], obs, seed=seed) for name in MODELS]
    gap = spearman_gap(
        results["calibrated"].expected, results["seed_followers"].expected, obs, seed=seed
    )
    report = BacktestReport(
        options={
            "kinds": list(kinds),
            "horizon_s": int(horizon_s),
            "holdout": holdout,
            "seeds_per_item": seeds_per_item,
            "uniform_p": uniform_p,
            "learned_window_s": int(learned_window_s),
            "simulations": simulations,
            "seed": seed,
        },
        period={"fit_start": log.period()[0], "cutoff": split.cutoff, "end": split.end},
        counts={
            "adoptions": len(log),
            "untimed": log.untimed,
            "fit_adoptions": len(split.fit),
            "held_out": len(split.held_out),
            "censored": split.censored,
            "too_small": split.too_small,
        },
        scores=scores,
        items=_item_rows(snapshot, split.held_out, results),
        calibrated={
            k: getattr(model, k)
            for k in (
                "window_s",
                "smoothing",
                "prior",
                "scale",
                "background_weight",
                "audience_weight",
                "intercept",
            )
        },
    )
    if gap is not None:
        report.rank_gap_to_followers = {"difference": gap[0], "ci": gap[1]}
    report.warnings = _losses(report)
    serving = fit_calibrated(
        snapshot,
        graph,
        log,
        horizon_s=horizon_s,
        seeds_per_item=seeds_per_item,
        progress=progress,
        **common,
    )
    serving.backtest = report.headline()
    return report, serving


def _item_rows(
    snapshot: Snapshot, cases: Cascades, results: dict[str, Predictions]
) -> list[dict[str, Any]]:
    cal = results["calibrated"]
    rows = []
    for i in range(len(cases)):
        rows.append(
            {
                "item": snapshot.item_ids[int(cases.item[i])],
                "seeds": [snapshot.user_ids[int(s)] for s in cases.seeds[i]],
                "start": int(cases.start[i]),
                "observed": int(cases.observed[i]),
                "predicted": {name: float(p.point[i]) for name, p in results.items()},
                "calibrated_interval90": [float(cal.low90[i]), float(cal.high90[i])],
                "calibrated_interval50": [float(cal.low50[i]), float(cal.high50[i])],
            }
        )
    return rows


def _losses(report: BacktestReport) -> list[str]:
    """Plain statements of every figure where the calibrated model loses to a yardstick."""
    cal, const = report.score("calibrated"), report.score("constant_median")
    out = []
    if cal.mae > const.mae:
        out.append(
            f"calibrated MAE {cal.mae:.3f} is worse than the constant median's {const.mae:.3f}"
        )
    follow = report.score("seed_followers").spearman
    gap = report.rank_gap_to_followers
    if follow is not None and (cal.spearman is None or cal.spearman < follow):
        against = f"calibrated Spearman {cal.spearman or 0:.3f} against the seed follower count's"
        if gap is None:
            out.append(f"{against} {follow:.3f}: it ranks items worse")
        else:
            low, high = gap["ci"]
            verdict = "ranks items worse" if high < 0 else "ranks items no better (a tie)"
            out.append(
                f"{against} {follow:.3f}: it {verdict}; paired difference "
                f"{gap['difference']:.3f}, 95% CI [{low:.3f}, {high:.3f}]"
            )
    for name, nominal in (("coverage90", 0.9), ("coverage50", 0.5)):
        value = getattr(cal, name)
        if abs(value - nominal) > 0.1:
            out.append(f"calibrated {name} {value:.3f} is far from the nominal {nominal}")
    return out


def save_backtest(
    report: BacktestReport, model: CalibratedReach, directory: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write the report (``reach_backtest.json``) and the model to serve
    (``reach_model.json``) into ``directory``, each atomically; returns both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / REPORT_FILE
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=1))
    tmp.replace(report_path)
    return report_path, model.save(out / MODEL_FILE)


__all__ = [
    "MODELS",
    "BacktestReport",
    "ModelScore",
    "Predictions",
    "UnusableLogError",
    "run_backtest",
    "save_backtest",
    "score_predictions",
    "spearman_gap",
]
