"""Offline replay on a synthetic world: the ground truth is exact, identical variants are
found different at about alpha, and a known difference is found with the right sign."""

from __future__ import annotations

import numpy as np
import pytest

from graph.synthetic import World, WorldConfig, generate_world
from serving.experiment_replay import (
    ReplayWorld,
    ab_replay,
    false_positive_rate,
    popularity_scores,
    preference,
    ranking,
    replay,
    simulate,
    top_k,
    two_arm,
)
from serving.experiments import assign

TINY = WorldConfig(
    num_users=1500,
    num_items=300,
    num_communities=8,
    num_categories=12,
    interactions_per_user=15,
    seed=3,
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(TINY)


@pytest.fixture(scope="module")
def view(world: World) -> ReplayWorld:
    return ReplayWorld.from_world(world)


def test_preference_is_the_worlds_organic_engagement_distribution() -> None:
    big = generate_world(
        WorldConfig(num_users=20_000, num_items=200, num_communities=4, num_categories=8, seed=5)
    )
    pref = preference(big)
    assert np.allclose(pref.sum(axis=1), 1.0)
    organic_views = (big.inter_kind == 0) & (big.inter_influencer < 0)
    counts = np.zeros_like(pref)
    np.add.at(
        counts,
        (big.user_community[big.inter_user[organic_views]], big.inter_item[organic_views]),
        1,
    )
    empirical = counts / counts.sum(axis=1, keepdims=True)
    total_variation = 0.5 * np.abs(empirical - pref).sum(axis=1)
    # ~100k engagements per community over 200 items: sampling noise alone is ~0.02.
    assert total_variation.max() < 0.04, total_variation


def test_top_k_excludes_seen_items_and_breaks_ties_by_index() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [0.3, 0.2, 0.1, 0.0]])
    seen = np.array([[False, True, False, False], [True, False, False, False]])
    assert top_k(scores, seen, 2).tolist() == [[2, 3], [1, 2]]
    assert top_k(np.array([1.0, 3.0, 2.0, 0.0]), seen, 1).tolist() == [[2], [1]]
    with pytest.raises(ValueError, match="exceeds the unseen"):
        top_k(scores, np.ones_like(seen), 1)
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, seen, 5)


def test_replay_serves_each_user_their_variants_ranking(view: ReplayWorld) -> None:
    a = top_k(view.click_probability, view.seen, 5)
    b = top_k(-view.click_probability, view.seen, 5)
    experiment = two_arm("salt-1")
    out = replay(view, experiment, {"a": a, "b": b}, seed=0)
    expected = [assign(experiment, u) for u in view.user_ids]
    assert out.variant.tolist() == expected
    assert 0.45 < np.mean(out.variant == "a") < 0.55
    assert (out.impressions == 5).all()
    # The best items get clicked far more than the worst.
    in_a = out.variant == "a"
    assert out.clicks[in_a].mean() > 5 * out.clicks[~in_a].mean()
    assert (out.purchases <= out.clicks).all()
    with pytest.raises(ValueError, match="no ranking"):
        replay(view, experiment, {"a": a}, seed=0)


def test_aa_false_positive_rate_is_about_alpha(world: World, view: ReplayWorld) -> None:
    popular = top_k(popularity_scores(world), view.seen, 10)
    rate = false_positive_rate(view, popular, replays=200, seed=11)
    assert 0.02 <= rate <= 0.08, rate


def test_a_known_difference_is_found_with_the_ground_truths_sign(
    world: World, view: ReplayWorld
) -> None:
    popular = top_k(popularity_scores(world), view.seen, 10)
    shuffled = ranking("random", world, view, k=10)
    worse = ab_replay(view, popular, shuffled, seed=1)
    assert worse.expected_difference < 0 and worse.observed.difference < 0 and worse.right_sign


def test_simulate_popular_against_lightgcn() -> None:
    small = WorldConfig(num_users=800, num_items=150, num_communities=6, num_categories=10, seed=2)
    result = simulate(small, "popular", "lightgcn", replays=30, epochs=15)
    truth = result.expected_ctr["lightgcn"] - result.expected_ctr["popular"]
    assert truth != 0
    assert result.first.expected_difference == pytest.approx(truth)
    assert result.detected_sign == 1
    assert result.detection_rate >= 0.9
    assert 0.0 <= result.aa_false_positive_rate <= 0.15  # 30 replays: a loose bound
