"""Serving with experiments: which variant serves a request, with its knobs applied.

:meth:`ExperimentServing.arm` assigns the user in the active experiment
(:mod:`serving.experiments`) and returns an :class:`Arm`: the recommender and social layer to
rank with and the feed knobs, built once per variant and served state (a reload rebuilds them),
and the experiment and variant names to log with the serve and return in the response. Outside
experiments, and for held-out users, the arm is the server's own configuration.

Knobs: ``social_boost`` builds a social layer with that boost over the same live graph;
``strategy="popular"`` ranks everyone by popularity; ``checkpoint`` ranks with that model's
embeddings (it must hold the served snapshot's users and items; users it knows keep its vector,
others are folded in from their history in its embedding space, so the served model's live
fold-ins never mix into it); the feed knobs replace the server's settings for the variant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gnn.checkpoint import Checkpoint, load_checkpoint
from serving.experiments import CapMode, Experiment, ExperimentRegistry, Variant, assign
from serving.recommender import RecommenderService
from serving.scoring import fold_in
from serving.settings import Settings
from serving.social import SocialRecommender, Strategy
from serving.state import AppState


@dataclass(frozen=True, slots=True)
class FeedKnobs:
    """The feed ranking settings of an arm."""

    author_weight: float
    cap: int
    window_s: int
    mode: CapMode


@dataclass(frozen=True, slots=True)
class Arm:
    """What serves one request; ``experiment``/``variant`` are ``None`` outside experiments."""

    experiment: str | None
    variant: str | None
    recommender: RecommenderService
    social: SocialRecommender
    feed: FeedKnobs
    #: ``model_version`` of the checkpoint that ranks (logged with the serve).
    model: str


def feed_knobs(settings: Settings, variant: Variant | None = None) -> FeedKnobs:
    """The server's feed settings, with ``variant``'s overrides."""
    v = variant or Variant("default", 1.0)
    hours = v.feed_cap_hours if v.feed_cap_hours is not None else settings.feed_cap_hours
    return FeedKnobs(
        author_weight=(
            v.feed_author_weight
            if v.feed_author_weight is not None
            else settings.feed_author_weight
        ),
        cap=v.feed_cap_impressions or settings.feed_cap_impressions,
        window_s=round(hours * 3600),
        mode=v.feed_cap_mode or settings.feed_cap_mode,
    )


class PopularRecommender(SocialRecommender):
    """The social layer of a ``strategy="popular"`` variant: every served user gets the
    ``popular`` strategy (no candidate stage: build it with ``candidates=0``)."""

    def _served_vector(self, user_id: str) -> tuple[torch.Tensor | None, Strategy]:
        return None, "popular"


class ModelRecommender(SocialRecommender):
    """The social layer of a ``checkpoint`` variant: vectors from that model only."""

    def _vector(self, user_id: str) -> torch.Tensor | None:
        row = self.rec.user_position(user_id)
        if row is not None:
            return self.rec.user_embeddings[row]
        history = self.live.history(user_id)
        if len(history) == 0:
            return None
        return fold_in(self.rec.item_embeddings[torch.from_numpy(history.items)])

    def _served_vector(self, user_id: str) -> tuple[torch.Tensor | None, Strategy]:
        if len(self.live.history(user_id)) and (own := self._vector(user_id)) is not None:
            return own, "personalized"
        friends = [
            v
            for f in sorted({n.user_id for n in self.live.following(user_id)})
            if len(self.live.history(f)) and (v := self._vector(f)) is not None
        ]
        if friends:
            return torch.stack(friends).mean(dim=0), "social_cold_start"
        return None, "popular"


class ExperimentServing:
    """Arms of the active experiment for the served state.

    Args:
        registry: The experiment definitions.
        load: Reads a variant's checkpoint (default :func:`gnn.checkpoint.load_checkpoint`).
        count: Called with (experiment, variant, surface, items) for every response served in
            an experiment (e.g. Prometheus counters).
    """

    def __init__(
        self,
        registry: ExperimentRegistry,
        load: Callable[[str | Path], Checkpoint] = load_checkpoint,
        count: Callable[[str, str, str, int], None] | None = None,
    ) -> None:
        self.registry = registry
        self._load = load
        self._count = count
        self._lock = threading.Lock()
        self._state: AppState | None = None
        #: Arms of the served state by (experiment, variant); ``None``: no experiment.
        self._arms: dict[tuple[str, str] | None, Arm] = {}

    def cached(self, state: AppState, user_id: str) -> Arm | None:
        """The arm serving ``user_id`` now if it is already built for ``state``, else ``None``
        (a cheap lookup: building one may read a checkpoint, see :meth:`arm`)."""
        key = _arm_key(self.registry.active(), user_id)
        return self._arms.get(key) if self._state is state else None

    def arm(self, state: AppState, user_id: str) -> Arm:
        """The arm serving ``user_id`` now (built on first use, then shared).

        Raises:
            ValueError: if the variant's checkpoint cannot be served on this snapshot.
        """
        experiment = self.registry.active()
        key = _arm_key(experiment, user_id)
        arm = self._arms.get(key) if self._state is state else None
        if arm is not None:
            return arm
        with self._lock:
            if self._state is not state:
                self._state, self._arms = state, {}
            arm = self._arms.get(key)
            if arm is None:
                if experiment is None or key is None:
                    arm = default_arm(state)
                else:
                    arm = build_arm(state, experiment, key[1], self._load)
                self._arms[key] = arm
        return arm

    def served(self, arm: Arm, surface: str, items: int) -> None:
        """Count a response of ``items`` items served by ``arm`` (outside experiments:
        nothing)."""
        if arm.experiment is not None and arm.variant is not None and self._count is not None:
            self._count(arm.experiment, arm.variant, surface, items)

    def check(self, state: AppState, experiment: Experiment) -> None:
        """Build every arm of ``experiment`` once, so a bad variant fails before it serves.

        Raises:
            ValueError: naming the variant, if its checkpoint cannot be served.
        """
        for name in experiment.variant_names:
            try:
                build_arm(state, experiment, name, self._load)
            except ValueError as exc:
                raise ValueError(f"variant {name!r}: {exc}") from exc


def _arm_key(experiment: Experiment | None, user_id: str) -> tuple[str, str] | None:
    """``(experiment, variant)`` of ``user_id`` in ``experiment``; ``None`` outside one."""
    return None if experiment is None else (experiment.name, assign(experiment, user_id))


def default_arm(state: AppState, experiment: str | None = None, variant: str | None = None) -> Arm:
    """The server's own configuration (named, for a holdout or a variant without knobs)."""
    return Arm(
        experiment,
        variant,
        state.recommender,
        state.social,
        feed_knobs(state.settings),
        state.checkpoint.model_version,
    )


def build_arm(
    state: AppState,
    experiment: Experiment,
    name: str,
    load: Callable[[str | Path], Checkpoint] = load_checkpoint,
) -> Arm:
    """The arm of variant ``name`` (the holdout: the server's configuration, named).

    Raises:
        ValueError: if the variant's checkpoint is missing, unreadable or does not match the
            served snapshot.
    """
    variant = experiment.variant(name)
    if variant is None or not variant.knobs():
        return default_arm(state, experiment.name, name)
    recommender, model = state.recommender, state.checkpoint.model_version
    if variant.checkpoint is not None:
        checkpoint = load(variant.checkpoint)
        recommender = RecommenderService.from_artifacts(state.snapshot, checkpoint)
        model = checkpoint.model_version
    base = state.social
    boost = variant.social_boost if variant.social_boost is not None else base.social_boost
    social: SocialRecommender
    if variant.strategy == "popular":
        social = PopularRecommender(
            base.live,
            recommender,
            social_boost=boost,
            max_reason_users=base.max_reason_users,
            candidates=0,
        )
    elif variant.checkpoint is not None or boost != base.social_boost:
        kind = ModelRecommender if variant.checkpoint is not None else SocialRecommender
        social = kind(
            base.live,
            recommender,
            social_boost=boost,
            max_reason_users=base.max_reason_users,
            candidates=base.candidates,
            candidate_users=base.candidate_users,
        )
    else:
        social = base
    knobs = feed_knobs(state.settings, variant)
    return Arm(experiment.name, name, recommender, social, knobs, model)
