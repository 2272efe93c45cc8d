"""Unit tests of social serving: scoring rules, strategies, reasons, feed ranking, profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graph.schema import UNKNOWN_TS, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot
from serving.events import Impression, ImpressionLog
from serving.feed import Candidate, rank_feed
from serving.live import LiveGraph, carry_over
from serving.profile import (
    ACTIVITY_SEGMENTS,
    DAY_S,
    VALUE_TIERS,
    ProfileService,
    activity_segment,
    percentile,
    price_label,
    value_tier,
)
from serving.recommender import RecommenderService, UnknownUserError
from serving.scoring import capped, fold_in, score_scale, social_boost, standardize
from serving.social import ItemFilter, SocialRecommender
from tests.api.social_graph import (
    DAY,
    FRIENDSHIPS,
    INTERACTIONS,
    ITEMS,
    T0,
    USERS,
    checkpoint_for,
)

# -- pure scoring rules ----------------------------------------------------------------------


def test_social_boost_known_values() -> None:
    scores = np.array([1.0, 0.0, -1.0, -np.inf])
    counts = np.array([0.0, 1.0, 10.0, 3.0])
    scale = np.std([1.0, 0.0, -1.0])
    out = social_boost(scores, counts, 0.1)
    assert out[0] == 1.0
    assert out[1] == pytest.approx(0.1 * scale * math.log(2))
    assert out[2] == pytest.approx(-1.0 + 0.1 * scale * math.log(11))
    assert out[3] == -np.inf  # masked stays masked
    assert np.array_equal(social_boost(scores, counts, 0.0), scores)


@pytest.mark.parametrize("beta", [-0.1, math.inf])
def test_social_boost_rejects_bad_beta(beta: float) -> None:
    with pytest.raises(ValueError, match="beta must be"):
        social_boost(np.zeros(2), np.zeros(2), beta)


def test_social_boost_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        social_boost(np.zeros(2), np.zeros(3), 0.1)


def test_score_scale_and_standardize() -> None:
    assert score_scale(np.array([5.0])) == 1.0
    assert score_scale(np.array([2.0, 2.0])) == 1.0
    z = standardize(np.array([1.0, 2.0, 3.0, -np.inf]))
    assert z[:3] == pytest.approx([-1.2247449, 0.0, 1.2247449])
    assert z[3] == -np.inf
    assert np.array_equal(standardize(np.array([4.0, 4.0])), [0.0, 0.0])


def test_fold_in() -> None:
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert fold_in(items).tolist() == [0.5, 0.5]
    base = torch.tensor([2.0, 2.0])
    # 2 earlier interactions weigh the base vector twice as much as the 2 new items' sum
    assert fold_in(items, base, 2).tolist() == [1.25, 1.25]
    with pytest.raises(ValueError, match="at least one row"):
        fold_in(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="base_weight"):
        fold_in(items, base, -1)


def test_capped() -> None:
    assert capped(np.array([0, 2, 3, 5]), 3).tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="cap must be"):
        capped(np.array([1]), 0)


# -- the social recommender --------------------------------------------------------------------


@pytest.fixture
def snapshot() -> Snapshot:
    return build_snapshot(USERS, ITEMS, FRIENDSHIPS, INTERACTIONS, source="test")


@pytest.fixture
def rec(snapshot: Snapshot) -> RecommenderService:
    return RecommenderService.from_artifacts(snapshot, checkpoint_for(snapshot))


@pytest.fixture
def social(snapshot: Snapshot, rec: RecommenderService) -> SocialRecommender:
    return SocialRecommender(LiveGraph(snapshot), rec, social_boost=0.1, max_reason_users=2)


def _interacted(snapshot: Snapshot, user: str, item: str) -> bool:
    u, i = snapshot.user_index[user], snapshot.item_index[item]
    return bool(np.any((snapshot.inter_user == u) & (snapshot.inter_item == i)))


def test_reasons_come_from_the_graph(
    snapshot: Snapshot, rec: RecommenderService, social: SocialRecommender
) -> None:
    result = social.recommend("a", 5)
    assert result.strategy == "personalized"
    assert "p1" not in [i.item_id for i in result.items]  # seen
    by_id = {i.item_id: i for i in result.items}
    friends = {n.user_id for n in social.live.following("a")}
    for item in result.items:
        for reason in item.reasons:
            if reason.type == "friends_purchased":
                assert reason.user_ids
                for friend in reason.user_ids:  # each claimed friend really interacted
                    assert friend in friends
                    assert _interacted(snapshot, friend, item.item_id)
    p2 = next(r for r in by_id["p2"].reasons if r.type == "friends_purchased")
    assert p2.count == 3  # b, c and d (followed) all interacted with p2
    assert p2.user_ids == ("d", "c")  # most recent first, bounded by max_reason_users=2
    assert [r.item_ids for r in by_id["p2"].reasons if r.type == "similar_to"] == [("p1",)]
    assert by_id["p6"].reasons == ()  # nobody a knows touched it; not similar to p1


def test_boost_lifts_social_items_and_zero_disables_it(
    rec: RecommenderService, snapshot: Snapshot
) -> None:
    plain = SocialRecommender(LiveGraph(snapshot), rec, social_boost=0.0).recommend("a", 5)
    assert all(i.score == i.model_score for i in plain.items)
    strong = SocialRecommender(LiveGraph(snapshot), rec, social_boost=5.0).recommend("a", 5)
    p4 = next(i for i in strong.items if i.item_id == "p4")
    assert p4.score > p4.model_score  # b viewed p4
    # with a strong boost, p4 (one friend) overtakes p3 (no friend, higher model score)
    order = [i.item_id for i in strong.items]
    assert order.index("p4") < order.index("p3")


def test_filters(rec: RecommenderService, social: SocialRecommender) -> None:
    def ids(**kw: object) -> list[str]:
        chosen = ItemFilter(**kw)  # type: ignore[arg-type]
        return [i.item_id for i in social.recommend("a", 10, item_filter=chosen).items]

    assert set(ids(category="bags")) == {"p4", "p5"}
    assert set(ids(min_price=40)) == {"p2", "p5"}  # p3 has no price, p1 is seen
    assert set(ids(max_price=40)) == {"p4", "p6"}
    assert set(ids(in_stock_only=True)) == {"p2", "p3", "p4", "p6"}
    with pytest.raises(ValueError, match="category must be"):
        ids(category="nope")
    with pytest.raises(ValueError, match="min_price must be <= max_price"):
        ids(min_price=10, max_price=5)


def test_cold_start_strategies(rec: RecommenderService, social: SocialRecommender) -> None:
    cold = social.recommend("f", 3)
    assert cold.strategy == "social_cold_start"
    vector, _ = social.user_vector("f")
    assert vector is not None
    assert vector.tolist() == pytest.approx([0.4, 0.65])  # mean of b (0.5, 0.5), c (0.3, 0.8)
    top = cold.items[0]
    assert top.item_id == "p4"  # (0.2, 0.9) scores highest for (0.4, 0.65)
    assert any(r.type == "friends_purchased" and r.user_ids == ("b",) for r in top.reasons)
    loner = social.recommend("g", 2)
    assert loner.strategy == "popular"
    assert loner.items[0].item_id == "p2"  # three distinct users
    assert loner.items[0].reasons[0].type == "popular"
    assert loner.items[0].reasons[0].count == 3
    with pytest.raises(UnknownUserError):
        social.recommend("stranger", 2)
    fallback = social.recommend("stranger", 2, fallback_popular=True)
    assert fallback.strategy == "popular"
    south = social.recommend("stranger", 1, fallback_popular=True, region="south")
    assert south.items[0].item_id == "p2"  # d (south) viewed p2; e (south) bought p6: tie -> p2
    with pytest.raises(ValueError, match="region must be"):
        social.recommend("stranger", 1, fallback_popular=True, region="west")


def test_live_interactions_fold_in_and_exclude(
    rec: RecommenderService, social: SocialRecommender
) -> None:
    social.live.add_interactions([Interaction("a", "p2", "purchase", ts=T0 + 400 * DAY)])
    social.fold_in_user("a", [rec.item_ids.index("p2")])
    items = [i.item_id for i in social.recommend("a", 5).items]
    assert "p2" not in items
    vector = social.live.user_vector("a")
    assert vector is not None
    # a had 1 interaction: (1 * a + p2) / 2
    assert vector.tolist() == pytest.approx([(1.0 + 0.9) / 2, (0.1 + 0.1) / 2])
    social.live.add_users([User("n")])
    assert social.recommend("n", 2).strategy == "popular"
    social.live.add_interactions([Interaction("n", "p5", "click", ts=T0)])
    social.fold_in_user("n", [rec.item_ids.index("p5")])
    result = social.recommend("n", 2)
    assert result.strategy == "personalized"
    assert [i.item_id for i in result.items] == ["p4", "p3"]  # closest to p5 = (0, 1)


def test_deleted_user_is_never_named(rec: RecommenderService, social: SocialRecommender) -> None:
    assert social.live.delete_user("d")
    p2 = next(i for i in social.recommend("a", 5).items if i.item_id == "p2")
    reason = next(r for r in p2.reasons if r.type == "friends_purchased")
    assert reason.count == 2
    assert reason.user_ids == ("c", "b")
    with pytest.raises(UnknownUserError):
        social.recommend("d", 1)
    assert not social.live.delete_user("d")


def test_carry_over(snapshot: Snapshot) -> None:
    old = LiveGraph(snapshot)
    old.delete_user("e")
    old.add_users([User("n")])
    old.add_interactions(
        [
            Interaction("n", "p1", "view", ts=T0),
            Interaction("b", "p2", "purchase", ts=T0 + 100 * DAY),
        ]
    )
    new = LiveGraph(snapshot)
    carried = carry_over(old, new)
    assert not new.has_user("e")
    assert new.has_user("n")
    assert carried == {"n": [snapshot.item_index["p1"]]}  # b's row is already in the snapshot


# -- feed --------------------------------------------------------------------------------------


def test_seen_by_any_is_the_union_of_followings(snapshot: Snapshot) -> None:
    live = LiveGraph(snapshot)
    everyone = [u.user_id for u in USERS] + ["nobody"]

    def expected(viewers: list[str]) -> set[str]:
        return {n.user_id for v in viewers for n in live.following(v)} & set(everyone)

    for change in (
        None,
        lambda: live.delete_user("c"),
        lambda: live.add_users([User("d", private=True)]),
    ):
        if change is not None:
            change()  # a deleted viewer and neighbour, then a private neighbour
        for viewers in [[u] for u in everyone] + [everyone, ["a", "f"]]:
            assert live.seen_by_any(viewers, everyone) == expected(viewers), viewers
    assert live.seen_by_any(["a"], everyone) == {"b"}  # c deleted, d private


def test_feed_author_closeness_and_cap(rec: RecommenderService, social: SocialRecommender) -> None:
    log = ImpressionLog(None)
    now = T0 + 400 * DAY
    candidates = [
        Candidate("p4", author_id="e", post_id="stranger-post"),
        Candidate("p4", author_id="b", post_id="friend-post"),
        Candidate("p4", author_id="f", post_id="fof-post"),  # f is b's friend
        Candidate("p2", post_id="hot"),
        Candidate("unknown-item", author_id="c"),
    ]
    kw = {"now": now, "author_weight": 0.5, "cap": 2, "window_s": DAY}
    strategy, ranked = rank_feed(social, log, "a", candidates, **kw)  # type: ignore[arg-type]
    assert strategy == "personalized"
    posts = [r.candidate.post_id for r in ranked]
    assert posts.index("friend-post") < posts.index("fof-post") < posts.index("stranger-post")
    assert {r.candidate.post_id: r.closeness for r in ranked}["fof-post"] == 0.3
    assert ranked[-1].candidate.item_id == "unknown-item" and ranked[-1].item_score is None
    log.record([Impression("a", None, "hot", now - 60), Impression("a", "p2", None, now - 120)])
    log.record([Impression("a", None, "hot", now - 2 * DAY)])  # outside the window
    _, ranked = rank_feed(social, log, "a", candidates, **kw)  # type: ignore[arg-type]
    hot = next(r for r in ranked if r.candidate.post_id == "hot")
    assert (hot.impressions, hot.capped) == (1, False)  # one per key within the window
    log.record([Impression("a", None, "hot", now - 30)])
    _, ranked = rank_feed(social, log, "a", candidates, **kw)  # type: ignore[arg-type]
    hot = next(r for r in ranked if r.candidate.post_id == "hot")
    assert (hot.impressions, hot.capped) == (2, True)
    assert ranked[-1].candidate.post_id == "hot"  # demoted below every uncapped candidate
    assert any(r.type == "frequency_capped" for r in hot.reasons)
    assert log.prune(now - DAY) == 1  # the impression outside the window
    assert log.counts("a", 0) == ({"p2": 1}, {"hot": 2})
    _, dropped = rank_feed(
        social,
        log,
        "a",
        candidates,
        mode="drop",
        **kw,  # type: ignore[arg-type]
    )
    assert "hot" not in [r.candidate.post_id for r in dropped]
    strategy, ranked = rank_feed(
        social,
        log,
        "nobody",
        candidates,
        **kw,  # type: ignore[arg-type]
    )
    assert strategy == "popular" and len(ranked) == len(candidates)


# -- profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "count", "expected"),
    [
        (0, 0, 0, "new"),
        (95 * DAY_S, 99 * DAY_S, 2, "new"),
        (0, 80 * DAY_S, 5, "active"),
        (0, 40 * DAY_S, 5, "dormant"),
        (0, 5 * DAY_S, 5, "churned"),
        (UNKNOWN_TS, UNKNOWN_TS, 5, "unknown"),
    ],
)
def test_activity_segment(first: int, last: int, count: int, expected: str) -> None:
    assert activity_segment(first, last, count, now=100 * DAY_S) == expected


def test_tiers_labels_percentile() -> None:
    assert [value_tier(s) for s in (0.9, 0.5, 0.1)] == ["high", "mid", "low"]
    assert [price_label(r) for r in (None, 0.5, 1.0, 2.0)] == [
        "unknown",
        "value",
        "mainstream",
        "premium",
    ]
    assert percentile(np.array([1.0, 2.0, 3.0, 4.0]), 3.0) == pytest.approx(0.625)
    assert percentile(np.array([]), 1.0) == 0.5


def test_profile(snapshot: Snapshot) -> None:
    service = ProfileService(LiveGraph(snapshot))
    c = service.profile("c")
    assert [(s.category, s.share) for s in c.top_categories] == [("bags", 0.5), ("shoes", 0.5)]
    # c paid 100 (shoes median 75) and 300 (bags median 165): ratios 1.33 and 1.82
    assert c.price_ratio == pytest.approx(np.median([100 / 75, 300 / 165]))
    assert c.price_sensitivity == "premium"
    assert c.activity_segment == "churned"  # last at day 200, data clock day 300
    assert c.social.friends == 2 and c.social.followers == 0
    d = service.profile("d")
    assert d.activity_segment == "new" and d.social.followers == 1  # first seen day 300
    assert service.profile("b").activity_segment == "churned"
    g = service.profile("g")
    assert g.activity_segment == "new" and g.value_tier == "low"
    b = service.profile("b")
    assert b.value_tier in {"high", "mid"} and b.rfm_score > g.rfm_score
    assert service.segment_members(activity="new") == ["d", "f", "g"]
    with pytest.raises(ValueError, match="activity must be"):
        service.segment_members(activity="sleepy")
    with pytest.raises(UnknownUserError):
        service.profile("zz")


def _random_snapshot(seed: int) -> Snapshot:
    """120 users with random histories over 400 days (some timestamps unknown, some items
    unpriced), so every activity segment and value tier occurs."""
    rng = np.random.default_rng(seed)
    users = [User(f"u{n:03d}") for n in range(120)]
    items = [
        Item(f"i{n}", f"c{n % 4}", None if n % 7 == 0 else float(rng.integers(5, 500)))
        for n in range(40)
    ]
    kinds = ("view", "click", "purchase")
    rows = []
    for user in users[:100]:  # the last 20 have no interactions
        for _ in range(int(rng.integers(1, 12))):
            unknown = rng.random() < 0.05
            rows.append(
                Interaction(
                    user.user_id,
                    f"i{rng.integers(40)}",
                    kinds[rng.integers(3)],
                    ts=UNKNOWN_TS if unknown else T0 + int(rng.integers(0, 400 * DAY)),
                )
            )
    return build_snapshot(users, items, [], rows, source="random")


@pytest.mark.parametrize("seed", [0, 1])
def test_segment_members_equal_the_profiles(seed: int) -> None:
    live = LiveGraph(_random_snapshot(seed))
    service = ProfileService(live)
    now = service.now
    live.add_users([User("n1"), User("n2")])
    live.add_interactions(  # a churned user comes back; a brand-new user buys
        [Interaction("u000", "i1", "purchase", ts=now), Interaction("n1", "i2", "purchase", ts=now)]
    )
    live.delete_user("u001")
    served = [u for u in [*live.snapshot.user_ids, "n1", "n2"] if live.has_user(u)]
    profiles = {u: service.profile(u) for u in served}
    seen = set()
    for activity in (None, *ACTIVITY_SEGMENTS):
        for tier in (None, *VALUE_TIERS):
            expected = {
                u
                for u, p in profiles.items()
                if activity in (None, p.activity_segment) and tier in (None, p.value_tier)
            }
            members = service.segment_members(activity=activity, tier=tier)
            assert set(members) == expected and len(members) == len(expected)
            if expected:
                seen.add((activity, tier))
    assert {a for a, _ in seen} >= {"new", "active", "dormant", "churned"}
    assert {t for _, t in seen} >= {"high", "mid", "low"}
    assert "u001" not in service.segment_members()
