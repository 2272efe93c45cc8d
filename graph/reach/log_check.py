"""Is an adoption log usable for a calibrated reach model and its backtest, and at which horizon?

:func:`check_log` needs the graph to have edges, enough timed adoptions and enough evaluable
cascades in the held-out part and in the inner split of the fit part; callers without a usable
log fall back to weighted cascade and report the reason. :func:`choose_horizon` picks the
longest horizon the log supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from graph.reach.adoptions import AdoptionLog, check_split_options, split_by_time
from graph.reach.influence_graph import InfluenceGraph

DAY: Final[int] = 86_400
#: A log is usable with at least this many timed adoptions ...
MIN_ADOPTIONS: Final[int] = 100
#: ... and this many evaluable items in the inner split (and in the held-out part).
MIN_ITEMS: Final[int] = 20
#: Horizons tried, longest first, when none is given (:func:`choose_horizon`).
HORIZON_CHOICES_S: Final[tuple[int, ...]] = (30 * DAY, 14 * DAY, 7 * DAY, 3 * DAY, DAY)


class UnusableLogError(ValueError):
    """The adoption log is too small to fit or backtest a calibrated model (message says why)."""


@dataclass(frozen=True)
class LogCheck:
    """Whether a log is usable for a calibrated model; ``reason`` says why not."""

    usable: bool
    reason: str | None
    adoptions: int
    untimed: int
    items: int
    edges: int


def check_log(
    graph: InfluenceGraph,
    log: AdoptionLog,
    *,
    horizon_s: int,
    holdout: float = 0.3,
    seeds_per_item: int = 1,
) -> LogCheck:
    """Is ``log`` enough for a backtest (outer split) and a fit (inner split)?

    Needs the graph to have edges, ``MIN_ADOPTIONS`` timed adoptions and ``MIN_ITEMS``
    evaluable cascades in the held-out part and in the inner split of the fit part. Callers
    without a usable log fall back to weighted cascade and report ``reason``.

    Raises:
        ValueError: if an option is out of range (see ``split_by_time``).
    """
    check_split_options(horizon_s, holdout, seeds_per_item)
    items = int(np.unique(log.item).shape[0])

    def result(reason: str | None) -> LogCheck:
        return LogCheck(reason is None, reason, len(log), log.untimed, items, graph.num_edges)

    kinds = "/".join(log.kinds)
    if graph.num_edges == 0:
        return result("the social graph has no edges, so nothing can spread")
    if len(log) < MIN_ADOPTIONS:
        untimed = f"; {log.untimed} untimed ones cannot be placed in time" if log.untimed else ""
        return result(f"only {len(log)} timed {kinds} adoptions (need >= {MIN_ADOPTIONS}){untimed}")
    fit, end = log, None
    for label in ("held-out", "inner"):
        try:
            split = split_by_time(
                fit, horizon_s=horizon_s, holdout=holdout, seeds_per_item=seeds_per_item, end=end
            )
        except ValueError as exc:
            return result(f"the {label} split is empty ({exc})")
        if len(split.held_out) < MIN_ITEMS:
            return result(
                f"only {len(split.held_out)} {label} items have a full {horizon_s / DAY:g}-day "
                f"horizon of {kinds} adoptions (need >= {MIN_ITEMS}; {split.censored} censored "
                "by the end of the log): shorten the horizon or collect a longer log"
            )
        fit, end = split.fit, split.cutoff - 1
    return result(None)


def choose_horizon(
    graph: InfluenceGraph,
    log: AdoptionLog,
    *,
    holdout: float = 0.3,
    seeds_per_item: int = 1,
    choices: Sequence[int] = HORIZON_CHOICES_S,
) -> tuple[int, LogCheck]:
    """The longest horizon of ``choices`` that leaves the log usable (:func:`check_log`),
    with its check; when none does, the shortest and its check (with the reason).

    A longer horizon counts more of each cascade but leaves fewer items whose horizon ends
    before the log does, so the usable horizon depends on how long the log is.

    Raises:
        ValueError: if ``choices`` is empty or an option is out of range.
    """
    if not choices:
        raise ValueError("choices must name at least one horizon")
    check: LogCheck | None = None
    horizon = choices[0]
    for horizon in sorted(choices, reverse=True):
        check = check_log(
            graph, log, horizon_s=horizon, holdout=holdout, seeds_per_item=seeds_per_item
        )
        if check.usable:
            break
    assert check is not None
    return horizon, check
