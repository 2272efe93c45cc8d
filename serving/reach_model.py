"""Which reach model answers a request, and what a response says about it.

The last ``socialrec reach backtest`` leaves, in the reach directory (default
``<work_dir>/reach``), the calibrated model (``reach_model.json``) and its backtest report
(``reach_backtest.json``). :func:`load_reach_model` reads them once per serving state. With a
model, requests that name no probability use it (``calibrated``); without one they use
weighted cascade, and every response says so with the reason (``calibrated: false``).

A calibrated answer carries the Monte-Carlo estimate of the learned-probability cascade
(``reach``, with its standard error) *and* the calibrated number of adopters within the
horizon with predictive intervals that include the model's error on the inner split
(``predicted``): the second is the number to plan with, the first says how precise the
simulation was. The calibration is fitted under Independent Cascade, for cascades started by
``seeds_per_item`` seeds, with the learned window the backtest chose: requests outside that
(Linear Threshold, more seeds, another window) get a warning in ``reach_model.warnings``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from graph.reach.backtest import MODEL_FILE, REPORT_FILE
from graph.reach.calibrate import CalibratedReach, Prediction, load_for_serving
from graph.reach.estimate import Estimate

#: The probability kind of the calibrated model.
CALIBRATED: Final[str] = "calibrated"


def _day(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).date().isoformat()


@dataclass(frozen=True)
class ReachModelInfo:
    """What a reach response says about the model that produced it.

    Attributes:
        name: ``calibrated``, ``weighted_cascade``, ``uniform`` or ``learned``.
        calibrated: whether ``predicted`` adopters come from a backtested calibration.
        reason: why not, when ``calibrated`` is false.
        fit_period: first and last day of the adoptions the calibration was fitted on.
        horizon_days: the horizon the calibrated adopters count within.
        backtest: headline figures of the last backtest (Spearman, coverage, MAE ...).
        warnings: where the request is outside what the backtest covers.
    """

    name: str
    calibrated: bool
    reason: str | None = None
    fit_period: tuple[str | None, str | None] | None = None
    horizon_days: float | None = None
    backtest: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReachModel:
    """The calibrated reach model of a serving state, or the reason there is none.

    Attributes:
        calibrated: the fitted model (``None``: fall back to weighted cascade).
        reason: why there is no model.
        report: the last backtest report (JSON), when one was written.
    """

    calibrated: CalibratedReach | None = None
    reason: str | None = "no reach calibration configured"
    report: dict[str, Any] | None = None

    def require(self) -> CalibratedReach:
        """The calibrated model.

        Raises:
            ValueError: with the reason, when there is none.
        """
        if self.calibrated is None:
            raise ValueError(f"probability kind 'calibrated' is not available: {self.reason}")
        return self.calibrated

    def info(
        self,
        kind: str,
        *,
        model: str = "ic",
        num_seeds: int | None = None,
        p: float | None = None,
        window_s: int | None = None,
    ) -> ReachModelInfo:
        """The model block of a response for a request using ``kind`` probabilities."""
        cal = self.calibrated
        if kind != CALIBRATED or cal is None:
            reason = (
                self.reason
                if cal is None
                else (
                    f"probability {kind!r} was requested; the calibrated model answers requests "
                    "that name no probability"
                )
            )
            warnings = self._backtest_warnings(kind, p, window_s)
            if cal is not None and kind == "learned" and window_s is not None:
                warnings += cal.warnings(window_s=window_s)
            return ReachModelInfo(name=kind, calibrated=False, reason=reason, warnings=warnings)
        warnings = cal.warnings(num_seeds=num_seeds)
        if model != "ic":
            warnings.append(
                "the calibration was fitted under Independent Cascade; under Linear Threshold "
                "no calibrated adopters are given"
            )
        return ReachModelInfo(
            name=CALIBRATED,
            calibrated=model == "ic",
            reason=None if model == "ic" else "calibrated under ic only",
            fit_period=(_day(cal.fit_start), _day(cal.fit_end)),
            horizon_days=cal.horizon_s / 86_400,
            backtest=cal.backtest,
            warnings=warnings,
        )

    def _backtest_warnings(self, kind: str, p: float | None, window_s: int | None) -> list[str]:
        """How far ``kind`` was off in the last backtest (when more than 2x either way), or
        that the request's option was not backtested."""
        if self.report is None:
            return []
        options = self.report.get("options", {})
        tried = {
            "uniform": ("p", p, options.get("uniform_p")),
            "learned": ("window_s", window_s, options.get("learned_window_s")),
        }
        if kind in tried:
            name, asked, backtested = tried[kind]
            if asked is not None and backtested is not None and asked != backtested:
                return [
                    f"{kind} with {name}={asked:g} was not backtested (the last backtest used "
                    f"{name}={backtested:g}); see GET /api/v1/reach/calibration"
                ]
        for score in self.report.get("scores", []):
            predicted, observed = score.get("mean_predicted"), score.get("mean_observed")
            if score.get("model") != kind or not predicted or not observed:
                continue
            ratio = predicted / observed
            if not 0.5 <= ratio <= 2.0:
                return [
                    f"in the last backtest {kind} predicted {predicted:,.1f} adopters per "
                    f"cascade where {observed:,.1f} were observed on average ({ratio:.2g}x)"
                ]
        return []

    def predict(
        self, kind: str, model: str, reach: Estimate, seeds: list[str]
    ) -> Prediction | None:
        """Calibrated adopters for a simulated ``reach`` of ``seeds``, or ``None`` when the
        request is not answered by the calibrated model under IC."""
        if kind != CALIBRATED or model != "ic" or self.calibrated is None or not seeds:
            return None
        return self.calibrated.predict(
            max(reach.mean, float(len(seeds))), seeds, raw_std_error=reach.std_error
        )


def load_reach_model(directory: Path) -> ReachModel:
    """The calibrated model and last backtest report in ``directory`` (see module doc); a
    missing or unreadable model gives a :class:`ReachModel` without one, with the reason."""
    calibrated, reason = load_for_serving(directory / MODEL_FILE)
    report: dict[str, Any] | None = None
    report_path = directory / REPORT_FILE
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            reason = reason or f"backtest report unreadable ({exc})"
    return ReachModel(calibrated=calibrated, reason=reason, report=report)
