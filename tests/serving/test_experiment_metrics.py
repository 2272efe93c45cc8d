"""Interval estimates, difference tests and per-variant metrics: known answers on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graph.serve_log import Attribution, Serve
from serving import experiment_stats as st
from serving.online_metrics import DAY_S, experiment_report, user_outcomes


def test_wilson_known_answers() -> None:
    # Textbook values (Newcombe 1998, table I): 0/10 -> [0, 0.2775], 5/10 -> [0.2366, 0.7634].
    zero = st.wilson(0, 10)
    assert (zero.value, zero.low) == (0.0, 0.0) and zero.high == pytest.approx(0.2775, abs=1e-4)
    half = st.wilson(5, 10)
    assert (half.low, half.high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert math.isnan(st.wilson(0, 0).value)
    with pytest.raises(ValueError, match="successes must be in"):
        st.wilson(11, 10)


def test_z_for_levels() -> None:
    assert st.z_for(0.9) == pytest.approx(1.644854, abs=1e-6)
    assert st.z_for(0.99) == pytest.approx(2.575829, abs=1e-6)
    with pytest.raises(ValueError, match="level"):
        st.z_for(1.0)


def test_two_proportion_known_answer() -> None:
    # 50/100 vs 65/100: pooled p 0.575, se 0.069911, z 2.1456, two-sided p 0.0319.
    d = st.two_proportion(50, 100, 65, 100)
    assert d.difference == pytest.approx(0.15)
    assert d.p_value == pytest.approx(0.0319, abs=2e-4)
    se = math.sqrt(0.5 * 0.5 / 100 + 0.65 * 0.35 / 100)
    assert (d.low, d.high) == pytest.approx((0.15 - 1.959964 * se, 0.15 + 1.959964 * se))
    assert math.isnan(st.two_proportion(0, 0, 1, 2).p_value)


def test_ratio_with_one_impression_per_user_is_a_mean() -> None:
    clicks = np.array([1, 0, 0, 1, 1, 0, 0, 0], dtype=np.float64)
    ones = np.ones_like(clicks)
    r = st.ratio(clicks, ones)
    half = 1.959964 * clicks.std(ddof=1) / math.sqrt(clicks.size)
    assert (r.value, r.low, r.high) == pytest.approx((3 / 8, 3 / 8 - half, 3 / 8 + half))


def test_ratio_delta_method_hand_computed() -> None:
    # num [1, 2, 0], den [2, 2, 1]: r = 3/5; var(num) 1, var(den) 1/3, cov 1/2;
    # var(r) = (1 - 2*0.6*0.5 + 0.36/3) / (3 * (5/3)^2) = 0.52 / 8.3333 = 0.0624.
    r = st.ratio(np.array([1.0, 2.0, 0.0]), np.array([2.0, 2.0, 1.0]))
    assert r.value == pytest.approx(0.6)
    assert r.high - r.value == pytest.approx(1.959964 * math.sqrt(0.0624), rel=1e-6)


def test_ratio_difference_detects_a_large_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(0)
    imps = rng.integers(1, 20, size=4000).astype(np.float64)
    low = rng.binomial(imps.astype(np.int64), 0.05).astype(np.float64)
    high = rng.binomial(imps.astype(np.int64), 0.08).astype(np.float64)
    d = st.ratio_difference((low[:2000], imps[:2000]), (high[2000:], imps[2000:]))
    assert d.difference > 0 and d.p_value < 1e-6 and d.low > 0
    same = st.ratio_difference((low[:2000], imps[:2000]), (low[:2000], imps[:2000]))
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)


def test_bootstrap_mean_difference() -> None:
    rng = np.random.default_rng(1)
    a = rng.exponential(10.0, 500)
    d = st.bootstrap_mean_difference(a, a + 5.0, seed=3)
    assert d.difference == pytest.approx(5.0) and d.low > 0 and d.p_value < 0.01
    null = st.bootstrap_mean_difference(a, a.copy(), seed=3)
    assert null.low < 0 < null.high and null.p_value > 0.5
    assert st.bootstrap_mean_difference(a, a + 5.0, seed=3) == d  # seeded
    with pytest.raises(ValueError, match="resamples"):
        st.bootstrap_mean_difference(a, a, resamples=5)


T0 = 1_700_000_000


def scripted() -> tuple[list[Serve], list[Attribution]]:
    serves = [
        Serve("s1", "u1", T0, "rec", ("i1", "i2", "i3"), experiment="e", variant="a"),
        Serve("s2", "u1", T0 + 3 * DAY_S, "rec", ("i4", "i5"), experiment="e", variant="a"),
        Serve("s3", "u2", T0, "feed", ("i1", "i2"), experiment="e", variant="b"),
        Serve("s4", "u3", T0, "rec", ("i9",), experiment="other", variant="a"),
        Serve("s5", "u4", T0 + 20 * DAY_S, "rec", ("i1",), experiment="e", variant="b"),
    ]
    attributions = [
        Attribution("u1", "i1", "click", T0 + 10, 1.0, "s1", 1, "explicit"),
        Attribution("u1", "i1", "purchase", T0 + 60, 1.0, "s1", 1, "last_touch"),
        Attribution("u1", "i5", "click", T0 + 3 * DAY_S + 5, 1.0, "s2", 2, "explicit"),
        Attribution("u2", "i2", "click", T0 + 5, 1.0, "s3", 2, "explicit"),
        Attribution("u2", "i2", "purchase", T0 + 50, 1.0, "s3", 2, "explicit"),
        Attribution("u2", "i1", "purchase", T0 + 70, 1.0, "s3", 1, "last_touch"),
        Attribution("u3", "i9", "purchase", T0 + 70, 1.0, "s4", 1, "explicit"),
    ]
    return serves, attributions


def test_user_outcomes_on_a_scripted_log() -> None:
    serves, attributions = scripted()
    prices = {"i1": 10.0, "i2": 2.5}
    out = user_outcomes(
        serves,
        attributions,
        experiment="e",
        prices=prices,
        now=T0 + 25 * DAY_S,
        activity={"u2": [T0 + 8 * DAY_S]},
    )
    assert out.user_ids == ["u1", "u2", "u4"]  # u3 was in another experiment
    assert out.variant.tolist() == ["a", "b", "b"]
    assert out.impressions.tolist() == [5, 2, 1]
    assert out.clicks.tolist() == [2, 1, 0]
    assert out.purchases.tolist() == [1, 2, 0]
    assert out.revenue.tolist() == [10.0, 12.5, 0.0]
    # u1 came back on day 3 (a serve); u2 on day 8 (only within 30 days); u4 is too recent.
    assert out.retained[7].tolist() == [1, 0, -1]
    assert out.retained[30].tolist() == [-1, -1, -1]
    report = experiment_report(out, experiment="e", variants=["a", "b"], resamples=100)
    rows = {(m.variant, m.segment): m for m in report.metrics}
    a, b = rows[("a", "all")], rows[("b", "all")]
    assert (a.users, a.impressions, a.clicks, a.purchases) == (1, 5, 2, 1)
    assert (b.users, b.impressions, b.clicks, b.purchases, b.revenue) == (2, 3, 1, 2, 12.5)
    assert b.ctr.value == pytest.approx(1 / 3)
    assert b.conversion_per_user.value == pytest.approx(0.5)
    assert b.revenue_per_user.value == pytest.approx(6.25)
    assert b.retention["7d"].value == 0.0 and b.retention_users["7d"] == 1
    ctr = next(c for c in report.comparisons if c.metric == "ctr")
    assert (ctr.variant, ctr.control, ctr.test) == ("b", "a", "delta_method")
    assert math.isnan(ctr.result.p_value)  # one user in the control: no variance, no test
    assert report.to_dict()["comparisons"][0]["result"]["p_value"] is None
    assert "Fixed-horizon" in report.caveat


def test_report_by_segment_and_with_a_holdout() -> None:
    serves = [
        Serve(f"s{i}", f"u{i}", T0, "rec", ("i1", "i2"), experiment="e", variant=v)
        for i, v in enumerate(["a", "b", "holdout", "a", "b", "holdout"])
    ]
    clicks = [Attribution("u1", "i1", "click", T0 + 1, 1.0, "s1", 1, "explicit")]
    out = user_outcomes(serves, clicks, experiment="e", prices={}, now=T0)
    segments = {"u0": {"activity": "active"}, "u1": {"activity": "active"}}
    report = experiment_report(
        out, experiment="e", variants=["a", "b", "holdout"], segments=segments, resamples=50
    )
    cells = {(m.variant, m.segment): m.users for m in report.metrics}
    assert cells[("a", "activity=active")] == 1 and cells[("a", "activity=unknown")] == 1
    assert cells[("holdout", "all")] == 2
    assert {(c.variant, c.segment) for c in report.comparisons} >= {
        ("b", "all"),
        ("holdout", "all"),
        ("b", "activity=active"),
    }
    assert all(m.revenue == 0 for m in report.metrics)
    with pytest.raises(ValueError, match="alpha"):
        experiment_report(out, experiment="e", variants=["a"], alpha=0)
