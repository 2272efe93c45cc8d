"""The backtest's comparison with the seed follower count: a paired bootstrap of the two rank
correlations, and warnings that tell a loss from a tie."""

from __future__ import annotations

import numpy as np

from graph.reach.backtest import BacktestReport, ModelScore, _losses, spearman_gap


def test_spearman_gap_of_a_model_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    pred, observed = rng.random(50), rng.integers(1, 9, 50)
    assert spearman_gap(pred, pred, observed) == (0.0, (0.0, 0.0))


def test_spearman_gap_separates_a_right_ranking_from_a_reversed_one() -> None:
    observed = np.arange(1, 41)
    gap = spearman_gap(observed.astype(float), -observed.astype(float), observed)
    assert gap is not None
    difference, (low, high) = gap
    assert difference == 2.0 and 1.9 < low <= high <= 2.0


def test_spearman_gap_is_undefined_for_a_constant_prediction() -> None:
    observed = np.arange(1, 11)
    assert spearman_gap(np.ones(10), observed.astype(float), observed) is None


def _score(model: str, spearman: float | None, mae: float = 1.0) -> ModelScore:
    return ModelScore(model, spearman, None, mae, 0.0, 0.5, 0.9, 2.0, 2.0)


def _report(calibrated: float, followers: float, gap: dict | None) -> BacktestReport:
    scores = [
        _score("calibrated", calibrated),
        _score("constant_median", None, mae=2.0),
        _score("seed_followers", followers),
    ]
    return BacktestReport({}, {}, {}, scores, [], {}, rank_gap_to_followers=gap)


def test_a_lower_rank_correlation_inside_the_paired_interval_is_called_a_tie() -> None:
    (warning,) = _losses(_report(0.198, 0.200, {"difference": -0.002, "ci": (-0.08, 0.07)}))
    assert "no better (a tie)" in warning and "[-0.080, 0.070]" in warning


def test_a_lower_rank_correlation_below_the_paired_interval_is_called_worse() -> None:
    (warning,) = _losses(_report(0.05, 0.30, {"difference": -0.25, "ci": (-0.35, -0.15)}))
    assert "ranks items worse;" in warning


def test_a_higher_rank_correlation_gives_no_warning() -> None:
    assert _losses(_report(0.30, 0.20, {"difference": 0.1, "ci": (-0.01, 0.2)})) == []
