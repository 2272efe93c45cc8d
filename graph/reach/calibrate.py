"""The calibrated reach model: learned probabilities, a background term, a fitted level and
predictive intervals, all chosen on an inner time split of the fit part.

Predicted adopters of an item started by seeds ``S`` (``k = |S|``) within the horizon::

    mu = scale * (raw - k) + sum_{s in S} (background_weight * background[s]
                                           + audience_weight * log(1 + followers[s])) + intercept
    adopters = k - 1 + (1 + mu) * exp(e)

``raw`` is the Monte-Carlo reach (seeds included) under IC with the learned probabilities
(:meth:`CalibratedReach.influence_graph`, so today's estimate / plan code runs unchanged);
``background[s]`` is the mean number of *background* adopters (users with no in-neighbour who
adopted the item before them) that followed ``s``'s past adoptions within the horizon, shrunk
towards the mean of all users; ``followers[s]`` is the seed's audience (its out-degree in the
influence graph at fit time), the most basic reach yardstick, weighted like the other terms
(0 when it adds nothing); ``e`` is the log residual, whose empirical distribution on the
inner split gives the expected value, the median and the 50% / 90% predictive intervals.

:func:`fit_calibrated` searches the window, smoothing and prior of the learned probabilities
on the inner split (older fit items learn, newer ones are predicted), fits the level there,
then re-learns the probabilities and background rates on the whole fit part.
:func:`graph.reach.log_check.check_log` says whether a log is usable at all, with the reason
when it is not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.reach.adoptions import (
    AdoptionLog,
    Cascades,
    earlier_influencers,
    split_by_time,
)
from graph.reach.estimate import estimate_reach
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.learned import learned_from_log
from graph.reach.log_check import DAY, MIN_ITEMS, UnusableLogError

if TYPE_CHECKING:
    from graph.snapshot import Snapshot

#: Progress hook: ``(stage, done, total)``.
Progress = Callable[[str, int, int], None]

FORMAT: Final[str] = "socialrec.calibrated_reach/1"
#: Learning windows tried on the inner split (capped at the horizon, which is always tried).
WINDOW_GRID_S: Final[tuple[int, ...]] = (DAY, 7 * DAY, 30 * DAY, 90 * DAY, 365 * DAY)
#: Smoothing strengths ``m`` tried (pseudo-actions).
SMOOTHING_GRID: Final[tuple[float, ...]] = (1.0, 10.0)
#: Priors tried: ``None`` = the pooled rate, or 0 (accounts without actions influence nobody).
PRIOR_GRID: Final[tuple[float | None, ...]] = (None, 0.0)
#: Pseudo-adoptions shrinking a user's background rate towards the mean of all users.
BACKGROUND_STRENGTH: Final[float] = 5.0
#: Nominal levels of the predictive intervals.
INTERVAL_LEVELS: Final[tuple[float, ...]] = (0.5, 0.9)
#: Central residual-quantile levels searched to match each nominal level on the inner split.
_LEVEL_GRID: Final[NDArray[np.float64]] = np.linspace(0.02, 0.998, 245)


@dataclass(frozen=True)
class Prediction:
    """Calibrated adopters within the horizon (seeds included), next to the raw simulation.

    ``low50``/``high50`` and ``low90``/``high90`` are predictive intervals (model error from the
    inner split's residuals); ``raw_std_error`` is the Monte-Carlo standard error of ``raw``.
    """

    expected: float
    median: float
    low50: float
    high50: float
    low90: float
    high90: float
    raw: float
    raw_std_error: float


@dataclass
class CalibratedReach:
    """A fitted calibrated reach model, JSON-serialisable (:meth:`to_dict`, :meth:`save`).

    Attributes:
        kinds: Interaction kinds that counted as adoption.
        horizon_s: The horizon the level and intervals were fitted for.
        seeds_per_item: Seeds per cascade in the fit.
        window_s / smoothing / prior: The learned-probability options chosen on the inner split.
        fit_start / fit_end: Time of the first and last adoption used.
        snapshot_fingerprint: The snapshot the model was fitted on.
        actions: ``A_u`` per user id (users with at least one adoption).
        propagations: ``[followed_id, follower_id, A_u2v]`` for every edge with ``A_u2v > 0``.
        background: Background rate per user id (users with adoptions that could be followed).
        background_default: Background rate of any other user.
        followers: Audience size per user id (users with followers, at fit time).
        scale / background_weight / audience_weight / intercept: The level fitted on the
            inner split.
        quantiles: Log-residual quantiles: ``"median"``, ``"low50"``/``"high50"``,
            ``"low90"``/``"high90"`` (see :func:`interval_quantiles`).
        mean_exp_residual: ``mean(exp(e))`` (turns the median-scale level into a mean).
        valid: Ranges the fit covers (``horizon_s``, ``window_s``, ``seeds``).
        inner: Inner-split figures (items, loss, the grid tried, constant-median MAE vs ours).
        backtest: Headline backtest figures, when a backtest was run (see graph.reach.backtest).
    """

    kinds: list[str]
    horizon_s: int
    seeds_per_item: int
    window_s: int
    smoothing: float
    prior: float
    fit_start: int
    fit_end: int
    snapshot_fingerprint: str
    actions: dict[str, int]
    propagations: list[list[Any]]
    background: dict[str, float]
    background_default: float
    scale: float
    background_weight: float
    audience_weight: float
    intercept: float
    followers: dict[str, int]
    quantiles: dict[str, float]
    mean_exp_residual: float
    valid: dict[str, list[int]]
    inner: dict[str, Any] = field(default_factory=dict)
    backtest: dict[str, Any] | None = None

    def probabilities(self, graph: InfluenceGraph) -> NDArray[np.float64]:
        """Learned probability of every edge of ``graph`` (by node id):
        ``(A_u2v + m * p0) / (A_u + m)``; ``graph`` needs ids."""
        if graph.ids is None:
            raise ValueError("graph has no node ids; build it with InfluenceGraph.from_snapshot")
        index = graph.index
        acts = np.array([self.actions.get(u, 0) for u in graph.ids], dtype=np.float64)
        prop = np.zeros(graph.num_edges)
        for src, dst, count in self.propagations:
            u, v = index.get(src), index.get(dst)
            if u is None or v is None:
                continue
            lo, hi = int(graph.indptr[u]), int(graph.indptr[u + 1])
            e = lo + int(np.searchsorted(graph.indices[lo:hi], v))
            if e < hi and graph.indices[e] == v:
                prop[e] = count
        denom = acts[graph.sources] + self.smoothing
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(denom > 0, (prop + self.smoothing * self.prior) / denom, 0.0)
        return np.clip(p, 0.0, 1.0)

    def influence_graph(self, graph: InfluenceGraph) -> InfluenceGraph:
        """``graph`` with the learned probabilities, for estimate_reach / plan_campaign."""
        return graph.with_probabilities(self.probabilities(graph))

    def seed_terms(self, seeds: Sequence[str]) -> float:
        """The seeds' background and audience terms of ``mu``."""
        bg = sum(self.background.get(s, self.background_default) for s in seeds)
        audience = sum(np.log1p(self.followers.get(s, 0)) for s in seeds)
        return float(self.background_weight * bg + self.audience_weight * audience)

    def predict(
        self, raw_reach: float, seeds: Sequence[str], *, raw_std_error: float = 0.0
    ) -> Prediction:
        """Calibrated adopters for a simulated ``raw_reach`` (seeds included) of ``seeds``.

        Raises:
            ValueError: if ``seeds`` is empty or ``raw_reach`` is below the seed count.
        """
        k = len(seeds)
        if k == 0:
            raise ValueError("seeds is empty: give at least one user")
        if not raw_reach >= k - 1e-9:
            raise ValueError(f"raw_reach must be >= the {k} seeds, got {raw_reach!r}")
        mu = self.level(raw_reach - k, self.seed_terms(seeds))
        q = {key: adopters(k, mu, v) for key, v in self.quantiles.items()}
        return Prediction(
            expected=float(k - 1 + (1 + mu) * self.mean_exp_residual),
            median=q["median"],
            low50=q["low50"],
            high50=q["high50"],
            low90=q["low90"],
            high90=q["high90"],
            raw=float(raw_reach),
            raw_std_error=float(raw_std_error),
        )

    def level(self, beyond: float | NDArray[np.float64], seed_terms: Any) -> Any:
        """``mu``: the median-scale number of adopters beyond the seeds."""
        return self.scale * np.maximum(beyond, 0.0) + seed_terms + (self.intercept)

    def warnings(
        self,
        *,
        horizon_s: int | None = None,
        window_s: int | None = None,
        num_seeds: int | None = None,
    ) -> list[str]:
        """Warnings for a request outside what the fit covers (empty when inside)."""
        out: list[str] = []
        if horizon_s is not None and horizon_s != self.horizon_s:
            out.append(
                f"the calibration was fitted for a {self.horizon_s / DAY:g}-day horizon; "
                f"{horizon_s / DAY:g} days is outside it"
            )
        lo, hi = self.valid["window_s"]
        if window_s is not None and not lo <= window_s <= hi:
            out.append(
                f"learning window {window_s / DAY:g} days is outside the range the backtest "
                f"searched ({lo / DAY:g}..{hi / DAY:g} days; chosen {self.window_s / DAY:g})"
            )
        if num_seeds is not None and num_seeds > self.valid["seeds"][1]:
            out.append(
                f"calibrated on cascades started by {self.seeds_per_item} seed(s); "
                f"{num_seeds} seeds is an extrapolation"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (with a ``format`` tag)."""
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibratedReach:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: if ``data`` is not a calibrated reach model of this format.
        """
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model (format {data.get('format')!r})")
        fields = {k: v for k, v in data.items() if k != "format"}
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"malformed calibrated reach model: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON (atomically: temp file, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        tmp.replace(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CalibratedReach:
        """Read a model written by :meth:`save`.

        Raises:
            ValueError: naming the file, if it is not valid JSON or not such a model.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


def load_for_serving(path: str | os.PathLike[str]) -> tuple[CalibratedReach | None, str | None]:
    """The model saved by the last backtest, or ``(None, reason)`` so the caller can fall back
    to weighted cascade with ``calibrated: false`` and that reason."""
    target = Path(path)
    if not target.is_file():
        return None, f"no calibrated model at {target}: run `socialrec reach backtest` first"
    try:
        return CalibratedReach.load(target), None
    except (OSError, ValueError) as exc:
        return None, f"calibrated model unreadable ({exc})"


def raw_reach(
    graph: InfluenceGraph,
    seed_sets: NDArray[np.int64],
    *,
    simulations: int,
    seed: int,
    jobs: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Monte-Carlo IC reach (mean, standard error) of each row of ``seed_sets`` (node indices);
    equal rows are simulated once."""
    rows, inverse = np.unique(seed_sets, axis=0, return_inverse=True)
    mean = np.empty(rows.shape[0])
    se = np.empty(rows.shape[0])
    for i, row in enumerate(rows):
        est = estimate_reach(
            graph,
            [int(v) for v in row],
            simulations=simulations,
            seed=seed,
            attribution=False,
            jobs=jobs,
        ).reach
        mean[i], se[i] = est.mean, est.std_error
    inverse = inverse.ravel()
    return mean[inverse], se[inverse]


def background_rates(
    graph: InfluenceGraph, log: AdoptionLog, *, horizon_s: int, end: int
) -> tuple[NDArray[np.float64], float]:
    """Per user: background adopters (no in-neighbour adopted the item within ``horizon_s``
    before them) of the same item within ``horizon_s`` after the user's adoptions, averaged
    over the user's adoptions whose horizon ends by ``end`` and shrunk towards the mean.

    Returns:
        ``(rate per node, rate of a user without such adoptions)``.
    """
    n = graph.num_nodes
    if not len(log):
        return np.zeros(n), 0.0
    ptr, _ = earlier_influencers(graph, log, horizon_s)
    background = np.diff(ptr) == 0
    span = int(log.ts.max() - log.ts.min()) + 2 * horizon_s + 2
    key = log.item * span + (log.ts - log.ts.min())
    bg_key = np.sort(key[background])
    follow = np.searchsorted(bg_key, key + horizon_s, side="right") - np.searchsorted(
        bg_key, key, side="right"
    )
    eligible = log.ts + horizon_s <= end
    users = log.user[eligible]
    total = np.bincount(users, weights=follow[eligible], minlength=n)
    count = np.bincount(users, minlength=n).astype(np.float64)
    mean = float(total.sum() / count.sum()) if count.sum() else 0.0
    rate = (total + BACKGROUND_STRENGTH * mean) / (count + BACKGROUND_STRENGTH)
    return rate, mean


def adopters(k: int, mu: Any, residual: float) -> Any:
    """Whole adopters (at least the ``k`` seeds) at a log residual: rounded
    ``k - 1 + (1 + mu) * exp(residual)``."""
    return np.maximum(np.round(k - 1 + (1 + mu) * np.exp(residual)), k).astype(np.float64)


def interval_quantiles(
    k: int, mu: NDArray[np.float64], observed: NDArray[np.int64], residuals: NDArray[np.float64]
) -> dict[str, float]:
    """Residual quantiles of the median and of the 50% / 90% intervals.

    Adopter counts are whole numbers, often exactly the seed count, so the central residual
    quantiles at the nominal level would not cover at that rate. For each nominal level the
    central level whose rounded interval covers the inner split's cascades closest to it is
    used (the smallest on ties).
    """
    out = {"median": float(np.quantile(residuals, 0.5))}
    for nominal in INTERVAL_LEVELS:
        best: tuple[float, float, float] | None = None
        for level in _LEVEL_GRID:
            lo = float(np.quantile(residuals, (1 - level) / 2))
            hi = float(np.quantile(residuals, (1 + level) / 2))
            inside = (adopters(k, mu, lo) <= observed) & (observed <= adopters(k, mu, hi))
            gap = abs(float(inside.mean()) - nominal)
            if best is None or gap < best[0] - 1e-12:
                best = (gap, lo, hi)
        assert best is not None
        tag = f"{round(nominal * 100)}"
        out[f"low{tag}"], out[f"high{tag}"] = best[1], best[2]
    return out


@dataclass(frozen=True)
class _Level:
    """Non-negative weights of the level's terms (``scale``, ``background_weight``,
    ``audience_weight``) and its ``intercept``, with the fitted ``mu`` and log residuals."""

    weights: tuple[float, ...]
    intercept: float
    mu: NDArray[np.float64]
    residuals: NDArray[np.float64]
    loss: float


def _fit_level(terms: NDArray[np.float64], target: NDArray[np.float64]) -> _Level:
    """Non-negative weights ``w`` and intercept ``c`` minimising the squared log error between
    ``log(1 + target)`` and ``log(1 + terms @ w + c)`` (``terms``: one column per term)."""
    from scipy.optimize import minimize

    y = np.log1p(target)

    def loss(theta: NDArray[np.float64]) -> float:
        mu = terms @ theta[:-1] + theta[-1]
        return float(np.mean((y - np.log1p(mu)) ** 2))

    start = np.r_[np.ones(terms.shape[1]), max(float(np.expm1(y.mean())), 0.0)]
    best = minimize(loss, start, method="L-BFGS-B", bounds=[(0.0, None)] * start.shape[0])
    theta = [float(v) for v in best.x]
    mu = terms @ np.array(theta[:-1]) + theta[-1]
    return _Level(tuple(theta[:-1]), theta[-1], mu, y - np.log1p(mu), float(best.fun))


def _window_grid(horizon_s: int) -> list[int]:
    return sorted({w for w in WINDOW_GRID_S if w < horizon_s} | {int(horizon_s)})


def fit_calibrated(
    snapshot: Snapshot,
    graph: InfluenceGraph,
    log: AdoptionLog,
    *,
    horizon_s: int,
    seeds_per_item: int = 1,
    inner_holdout: float = 0.3,
    end: int | None = None,
    simulations: int = 200,
    seed: int = 0,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> CalibratedReach:
    """Fit the calibrated model on ``log`` (everything it may use; nothing later).

    Args:
        snapshot: The snapshot ``graph`` was built from (ids; its log is not read).
        graph: The influence graph (``InfluenceGraph.from_snapshot``), no probabilities needed.
        log: The adoptions to fit on, e.g. the fit part of a backtest split.
        horizon_s: The horizon predictions are for.
        seeds_per_item: Seeds per cascade.
        inner_holdout: Share of the newest items predicted in the inner split.
        end: End of the period ``log`` covers (default: its last adoption).
        simulations: Monte-Carlo worlds per seed set on the inner split.
        seed: Random seed of the simulations.
        jobs: Simulation threads.
        progress: Optional ``(stage, done, total)`` callback.

    Raises:
        UnusableLogError: if the inner split has fewer than ``MIN_ITEMS`` cascades.
    """
    stop = int(log.ts[-1]) if end is None and len(log) else int(end or 0)
    try:
        inner = split_by_time(
            log, horizon_s=horizon_s, holdout=inner_holdout, seeds_per_item=seeds_per_item, end=stop
        )
    except ValueError as exc:
        raise UnusableLogError(f"cannot fit a calibrated model: {exc}") from exc
    if len(inner.held_out) < MIN_ITEMS:
        raise UnusableLogError(
            f"cannot fit a calibrated model: only {len(inner.held_out)} inner-split items "
            f"with a full horizon (need >= {MIN_ITEMS})"
        )
    cases = inner.held_out
    k = seeds_per_item
    grid = list(product(_window_grid(horizon_s), SMOOTHING_GRID, PRIOR_GRID))
    bg_rate, _ = background_rates(graph, inner.fit, horizon_s=horizon_s, end=inner.cutoff - 1)
    seed_terms = np.stack(
        [
            bg_rate[cases.seeds].sum(axis=1),
            np.log1p(graph.out_degree[cases.seeds]).sum(axis=1),
        ],
        axis=1,
    )
    target = (cases.observed - k).astype(np.float64)
    tried: list[dict[str, Any]] = []
    best: tuple[float, int, float, float, _Level] | None = None
    fit_snapshot = inner.fit.as_snapshot(snapshot)
    for i, (window, smoothing, prior) in enumerate(grid):
        if progress is not None:
            progress("inner split", i, len(grid))
        learned = learned_from_log(
            graph,
            fit_snapshot,
            window_s=window,
            kinds=inner.fit.kinds[:1],
            smoothing=smoothing,
            prior=prior,
        )
        mean, _ = raw_reach(
            learned.graph, cases.seeds, simulations=simulations, seed=seed, jobs=jobs
        )
        level = _fit_level(np.column_stack([np.maximum(mean - k, 0.0), seed_terms]), target)
        tried.append(
            {"window_s": window, "smoothing": smoothing, "prior": prior, "loss": level.loss}
        )
        if best is None or level.loss < best[0]:
            best = (level.loss, window, smoothing, learned.prior, level)
    if progress is not None:
        progress("inner split", len(grid), len(grid))
    assert best is not None
    _, window, smoothing, prior_value, level = best
    const = float(np.median(cases.observed))

    final = learned_from_log(
        graph,
        log.as_snapshot(snapshot),
        window_s=window,
        kinds=log.kinds[:1],
        smoothing=smoothing,
        prior=prior_value,
    )
    rate, default = background_rates(graph, log, horizon_s=horizon_s, end=stop)
    ids = snapshot.user_ids
    has_adoptions = np.bincount(log.user, minlength=graph.num_nodes) > 0
    src = graph.sources
    nz = np.flatnonzero(final.propagations)
    model = CalibratedReach(
        kinds=list(log.kinds),
        horizon_s=int(horizon_s),
        seeds_per_item=k,
        window_s=int(window),
        smoothing=float(smoothing),
        prior=float(prior_value),
        fit_start=log.period()[0],
        fit_end=stop,
        snapshot_fingerprint=str(snapshot.meta.get("fingerprint", "")),
        actions={ids[u]: int(a) for u, a in enumerate(final.actions) if a > 0},
        propagations=[
            [ids[int(src[e])], ids[int(graph.indices[e])], int(final.propagations[e])] for e in nz
        ],
        background={ids[u]: float(rate[u]) for u in np.flatnonzero(has_adoptions)},
        background_default=float(default),
        scale=level.weights[0],
        background_weight=level.weights[1],
        audience_weight=level.weights[2],
        intercept=level.intercept,
        followers={ids[u]: int(d) for u, d in enumerate(graph.out_degree) if d > 0},
        quantiles=interval_quantiles(k, level.mu, cases.observed, level.residuals),
        mean_exp_residual=float(np.mean(np.exp(level.residuals))),
        valid={
            "horizon_s": [int(horizon_s), int(horizon_s)],
            "window_s": [min(t["window_s"] for t in tried), max(t["window_s"] for t in tried)],
            "seeds": [k, k],
        },
        inner={
            "cutoff": inner.cutoff,
            "items": len(cases),
            "loss": level.loss,
            "mae_constant_median": float(np.mean(np.abs(cases.observed - const))),
            "grid": tried,
        },
    )
    return model


def predict_cascades(
    model: CalibratedReach,
    graph: InfluenceGraph,
    cascades: Cascades,
    *,
    simulations: int,
    seed: int,
    jobs: int | None = None,
) -> tuple[list[Prediction], NDArray[np.float64]]:
    """The model's predictions for held-out ``cascades`` (and the raw reach of each)."""
    assert graph.ids is not None
    calibrated = model.influence_graph(graph)
    mean, se = raw_reach(calibrated, cascades.seeds, simulations=simulations, seed=seed, jobs=jobs)
    preds = [
        model.predict(m, [graph.ids[int(s)] for s in row], raw_std_error=e)
        for m, e, row in zip(mean, se, cascades.seeds, strict=True)
    ]
    return preds, mean
