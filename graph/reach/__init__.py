"""Influencer (KOL) reach: diffusion models, reach estimates and campaign planning.

* :mod:`graph.reach.influence_graph` — the influence graph (``followed -> follower``) and its
  edge probabilities (uniform, weighted cascade, learned from the log).
* :mod:`graph.reach.estimate` — Monte-Carlo reach with CI, by hop, per-seed attribution and
  qualified reach; :mod:`graph.reach.exact` — exact values on tiny graphs.
* :mod:`graph.reach.plan` — seed selection (IMM for a count, CELF best-of for a budget).
* :mod:`graph.reach.simulate` — the numba kernels behind them.
"""

from graph.reach.estimate import (
    Estimate,
    ReachEstimate,
    SeedContribution,
    WorkLimitError,
    estimate_reach,
)
from graph.reach.exact import ExactReach, exact_reach, exact_spread
from graph.reach.influence_graph import (
    InfluenceGraph,
    LearnedProbabilities,
    learned_from_log,
    lt_normalized,
    uniform,
    weighted_cascade,
)
from graph.reach.plan import CampaignPlan, PlannedSeed, plan_campaign, top_followers

__all__ = [
    "CampaignPlan",
    "Estimate",
    "ExactReach",
    "InfluenceGraph",
    "LearnedProbabilities",
    "PlannedSeed",
    "ReachEstimate",
    "SeedContribution",
    "WorkLimitError",
    "estimate_reach",
    "exact_reach",
    "exact_spread",
    "learned_from_log",
    "lt_normalized",
    "plan_campaign",
    "top_followers",
    "uniform",
    "weighted_cascade",
]
