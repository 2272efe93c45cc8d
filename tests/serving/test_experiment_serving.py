"""Variant knobs are applied when serving: popularity for a ``popular`` variant, another
boost, another checkpoint's embeddings, feed knobs; arms are built once per served state."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnn.checkpoint import save_checkpoint
from serving.experiment_serving import Arm, ExperimentServing, build_arm
from serving.experiments import HOLDOUT, Experiment, ExperimentRegistry, Variant, assign
from serving.state import AppState, load_state
from tests.api.social_graph import checkpoint_for, make_settings


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    return load_state(make_settings(tmp_path))


def experiment(neg_path: Path) -> Experiment:
    return Experiment(
        "knobs",
        (
            Variant("control", 0.2),
            Variant("popular", 0.2, strategy="popular"),
            Variant("boost", 0.2, social_boost=2.0),
            Variant("neg", 0.2, checkpoint=str(neg_path)),
            Variant("feed", 0.1, feed_cap_impressions=1, feed_cap_hours=2, feed_cap_mode="drop"),
        ),
        holdout_share=0.1,
    )


def items(arm: Arm, user: str) -> tuple[str, list[str]]:
    result = arm.social.recommend(user, 3)
    return result.strategy, [i.item_id for i in result.items]


def test_each_variant_serves_with_its_knobs(state: AppState, tmp_path: Path) -> None:
    neg = tmp_path / "neg.pt"
    save_checkpoint(checkpoint_for(state.snapshot, sign=-1.0), neg)
    e = experiment(neg)
    control = build_arm(state, e, "control")
    assert control.social is state.social and control.recommender is state.recommender
    assert items(control, "a") == ("personalized", ["p2", "p3", "p4"])

    popular = build_arm(state, e, "popular")
    # p2 has three distinct users; the others one each (ties: item order); p1 is seen.
    assert items(popular, "a") == ("popular", ["p2", "p4", "p5"])

    boost = build_arm(state, e, "boost")
    assert boost.social.social_boost == 2.0 and boost.social.live is state.live

    flipped = build_arm(state, e, "neg")
    strategy, top = items(flipped, "a")
    # a's vector negated: (-1, -0.1) scores p6 (-1, 0) highest, then p5 (0, 1)... p1 is seen.
    assert strategy == "personalized" and top[0] == "p6"
    assert flipped.recommender is not state.recommender

    feed = build_arm(state, e, "feed")
    assert (feed.feed.cap, feed.feed.window_s, feed.feed.mode) == (1, 7200, "drop")
    assert feed.feed.author_weight == state.settings.feed_author_weight

    held = build_arm(state, e, HOLDOUT)
    assert (held.experiment, held.variant) == ("knobs", HOLDOUT)
    assert held.social is state.social


def test_a_checkpoint_for_another_snapshot_is_refused(state: AppState, tmp_path: Path) -> None:
    e = experiment(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"missing\.pt"):
        build_arm(state, e, "neg")


def test_arm_follows_the_assignment_and_is_rebuilt_after_a_reload(
    state: AppState, tmp_path: Path
) -> None:
    registry = ExperimentRegistry(tmp_path / "experiments.json", refresh_s=0)
    serving = ExperimentServing(registry)
    default = serving.arm(state, "a")
    assert (default.experiment, default.variant) == (None, None)
    neg = tmp_path / "neg.pt"
    save_checkpoint(checkpoint_for(state.snapshot, sign=-1.0), neg)
    e = registry.create(experiment(neg))
    for user in "abcdefg":
        arm = serving.arm(state, user)
        assert (arm.experiment, arm.variant) == ("knobs", assign(e, user))
        assert serving.arm(state, user) is arm  # built once
    reloaded = load_state(state.settings)
    assert serving.arm(reloaded, "a").social.live is reloaded.live
    registry.stop("knobs")
    assert serving.arm(state, "a").variant is None


def test_cached_answers_only_built_arms_of_the_given_state(state: AppState, tmp_path: Path) -> None:
    registry = ExperimentRegistry(tmp_path / "experiments.json", refresh_s=0)
    serving = ExperimentServing(registry)
    assert serving.cached(state, "a") is None
    arm = serving.arm(state, "a")
    assert serving.cached(state, "a") is arm
    assert serving.cached(load_state(state.settings), "a") is None  # another served state
    registry.create(experiment(tmp_path / "neg.pt"))
    assert serving.cached(state, "a") is None  # the experiment's arm is not built yet
