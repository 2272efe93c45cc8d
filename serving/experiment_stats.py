"""Interval estimates and difference tests for online experiments (pure numpy).

* Proportions of users (conversion per user, retention): Wilson score interval; the
  difference of two variants by the pooled two-proportion z-test, with an unpooled (Wald)
  interval of the difference.
* Ratios over impressions (CTR, purchases per impression): the impressions of one user are
  not independent (a user who clicks often clicks many), so a two-proportion test on
  impressions would find differences between identical variants far more often than alpha.
  These use the delta method over users (the ratio of per-user sums; Deng et al., "Applying
  the Delta Method in Metric Analytics", KDD 2018), i.e. users are the independent units.
* Means over users (revenue per user, heavy-tailed): a Poisson bootstrap over users for the
  interval and the p-value of the difference.

Every test here is a fixed-horizon test: it holds its alpha only when the sample size is fixed
in advance and the result read once. Peeking at a running experiment and stopping at the
first significant p-value inflates false positives (docs/online-evaluation.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

#: Two-sided 95% normal quantile.
Z95: Final[float] = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided interval (``nan`` bounds when undefined)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Difference:
    """``treatment - control`` with its interval and two-sided p-value (``nan`` when a
    group is empty or has no variance)."""

    difference: float
    low: float
    high: float
    p_value: float


NAN_INTERVAL: Final[Interval] = Interval(math.nan, math.nan, math.nan)
NAN_DIFFERENCE: Final[Difference] = Difference(math.nan, math.nan, math.nan, math.nan)


def _two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def z_for(level: float) -> float:
    """The two-sided normal quantile of a confidence ``level`` in (0, 1).

    Raises:
        ValueError: if ``level`` is outside (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if abs(level - 0.95) < 1e-12:
        return Z95
    # Bisection on erfc: exact enough, no scipy needed.
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _two_sided_p(mid) > 1 - level:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of a proportion ``successes / n`` (all ``nan`` when ``n == 0``).

    Raises:
        ValueError: if ``successes`` is outside ``[0, n]``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    if n == 0:
        return NAN_INTERVAL
    z = z_for(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def two_proportion(
    x_control: int, n_control: int, x_treatment: int, n_treatment: int, level: float = 0.95
) -> Difference:
    """Pooled two-proportion z-test of ``x_t/n_t - x_c/n_c`` with an unpooled interval."""
    if n_control == 0 or n_treatment == 0:
        return NAN_DIFFERENCE
    p_c, p_t = x_control / n_control, x_treatment / n_treatment
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    se = math.sqrt(p_c * (1 - p_c) / n_control + p_t * (1 - p_t) / n_treatment)
    diff = p_t - p_c
    p_value = _two_sided_p(diff / se_pooled) if se_pooled > 0 else math.nan
    z = z_for(level)
    return Difference(diff, diff - z * se, diff + z * se, p_value)


def _ratio_and_variance(num: NDArray[np.float64], den: NDArray[np.float64]) -> tuple[float, float]:
    """``sum(num) / sum(den)`` and its delta-method variance over independent users."""
    n = num.shape[0]
    mean_den = float(den.mean())
    ratio = float(num.sum() / den.sum())
    if n < 2:
        return ratio, math.nan
    cov = np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio * ratio * cov[1, 1]) / (
        n * mean_den * mean_den
    )
    return ratio, max(float(var), 0.0)


def ratio(num: NDArray[np.float64], den: NDArray[np.float64], level: float = 0.95) -> Interval:
    """A ratio of per-user sums (e.g. clicks / impressions) with a delta-method interval.

    Args:
        num: Per-user numerators.
        den: Per-user denominators (same length; users with 0 count only in the sums).
        level: Confidence level.

    Raises:
        ValueError: if the arrays differ in shape.
    """
    if num.shape != den.shape:
        raise ValueError(f"num and den must have equal shapes, got {num.shape} and {den.shape}")
    if num.size == 0 or den.sum() <= 0:
        return NAN_INTERVAL
    value, var = _ratio_and_variance(num.astype(np.float64), den.astype(np.float64))
    half = z_for(level) * math.sqrt(var) if math.isfinite(var) else math.nan
    return Interval(value, value - half, value + half)


def ratio_difference(
    control: tuple[NDArray[np.float64], NDArray[np.float64]],
    treatment: tuple[NDArray[np.float64], NDArray[np.float64]],
    level: float = 0.95,
) -> Difference:
    """Delta-method z-test of the difference of two ratio metrics; each argument is the
    ``(numerators, denominators)`` of one group's users."""
    parts = []
    for num, den in (control, treatment):
        if num.size < 2 or den.sum() <= 0:
            return NAN_DIFFERENCE
        parts.append(_ratio_and_variance(num.astype(np.float64), den.astype(np.float64)))
    (r_c, v_c), (r_t, v_t) = parts
    diff, se = r_t - r_c, math.sqrt(v_c + v_t)
    if se == 0:
        return Difference(diff, diff, diff, math.nan)
    z = z_for(level)
    return Difference(diff, diff - z * se, diff + z * se, _two_sided_p(diff / se))


def mean(values: NDArray[np.float64], level: float = 0.95) -> Interval:
    """A mean over users with a normal interval (``nan`` bounds below two users)."""
    if values.size == 0:
        return NAN_INTERVAL
    m = float(values.mean())
    if values.size < 2:
        return Interval(m, math.nan, math.nan)
    half = z_for(level) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Interval(m, m - half, m + half)


def bootstrap_mean_difference(
    control: NDArray[np.float64],
    treatment: NDArray[np.float64],
    *,
    seed: int = 0,
    resamples: int = 1000,
    level: float = 0.95,
    chunk: int = 50,
) -> Difference:
    """Poisson bootstrap over users of ``mean(treatment) - mean(control)``.

    Each resample weighs every user by an independent Poisson(1) count (the usual online
    approximation of resampling with replacement). The interval is the percentile interval;
    the p-value is twice the share of resampled differences on the far side of 0.

    Raises:
        ValueError: if ``resamples < 10``.
    """
    if resamples < 10:
        raise ValueError(f"resamples must be >= 10, got {resamples}")
    if control.size < 2 or treatment.size < 2:
        return NAN_DIFFERENCE
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for lo in range(0, resamples, chunk):
        size = min(chunk, resamples - lo)
        means = []
        for values in (control, treatment):
            w = rng.poisson(1.0, size=(size, values.size)).astype(np.float64)
            means.append((w @ values) / np.maximum(w.sum(axis=1), 1.0))
        diffs[lo : lo + size] = means[1] - means[0]
    diff = float(treatment.mean() - control.mean())
    alpha = 1 - level
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    if np.ptp(diffs) == 0:
        return Difference(diff, float(low), float(high), math.nan)
    p = 2 * min(float((diffs <= 0).mean()), float((diffs >= 0).mean()))
    return Difference(diff, float(low), float(high), min(1.0, p))
