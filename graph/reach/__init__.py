"""Influencer (KOL) reach: diffusion models, reach estimates and campaign planning.

* :mod:`graph.reach.influence_graph` — the influence graph (``followed -> follower``) and its
  edge probabilities (uniform, weighted cascade); :mod:`graph.reach.learned` — probabilities
  learned from the log.
* :mod:`graph.reach.estimate` — Monte-Carlo reach with CI, by hop, per-seed attribution and
  qualified reach; :mod:`graph.reach.exact` — exact values on tiny graphs;
  :mod:`graph.reach.work_limit` — time limits by a timed pilot.
* :mod:`graph.reach.plan` — seed selection (IMM for a count, CELF best-of for a budget);
  :mod:`graph.reach.imm` — IMM's RR-set counts; :mod:`graph.reach.cover` — greedy coverage.
* The numba kernels behind them: :mod:`graph.reach.kernels` (random streams, live edges),
  :mod:`graph.reach.kernel_graph` (the graph as they read it), :mod:`graph.reach.simulate`
  (cascades), :mod:`graph.reach.rr_sets` (reverse-reachable sets).
* Where the kernels run: :mod:`graph.reach.runners` (threads), :mod:`graph.reach.parallel`
  (worker processes), :mod:`graph.reach.dask_runner` (a Dask cluster, optional extra).
* :mod:`graph.reach.backtest` — the backtest of every reach model on the store's own log
  (:mod:`graph.reach.adoptions`: the log and its time split; :mod:`graph.reach.log_check`: the
  usable-log check; :mod:`graph.reach.calibrate`: the calibrated model;
  :mod:`graph.reach.credit`: credit distribution).
"""

from graph.reach.adoptions import AdoptionLog, split_by_time
from graph.reach.backtest import BacktestReport, ModelScore, run_backtest, save_backtest
from graph.reach.calibrate import CalibratedReach, Prediction, fit_calibrated
from graph.reach.estimate import (
    Estimate,
    ReachEstimate,
    SeedContribution,
    WorkLimitError,
    estimate_reach,
)
from graph.reach.exact import ExactReach, exact_reach, exact_spread
from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform, weighted_cascade
from graph.reach.learned import LearnedProbabilities, learned_from_log
from graph.reach.log_check import LogCheck, UnusableLogError, check_log
from graph.reach.plan import CampaignPlan, PlannedSeed, plan_campaign, top_followers

__all__ = [
    "AdoptionLog",
    "BacktestReport",
    "CalibratedReach",
    "CampaignPlan",
    "Estimate",
    "ExactReach",
    "InfluenceGraph",
    "LearnedProbabilities",
    "LogCheck",
    "ModelScore",
    "PlannedSeed",
    "Prediction",
    "ReachEstimate",
    "SeedContribution",
    "UnusableLogError",
    "WorkLimitError",
    "check_log",
    "estimate_reach",
    "exact_reach",
    "exact_spread",
    "fit_calibrated",
    "learned_from_log",
    "lt_normalized",
    "plan_campaign",
    "run_backtest",
    "save_backtest",
    "split_by_time",
    "top_followers",
    "uniform",
    "weighted_cascade",
]
