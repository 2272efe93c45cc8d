"""The candidate stage (serving/candidates.py) answers exactly what scoring the whole
catalogue answers, and steps aside when it cannot prove its answer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from api.routes.recommendations import _BODY, served
from api.schemas.recommendations import RecommendationsResponse
from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.snapshot import Snapshot, build_snapshot
from serving.candidates import CandidateCache, Stage
from serving.live import LiveGraph
from serving.recommender import RecommenderService
from serving.social import (
    ItemFilter,
    RankedItem,
    Reason,
    Recommendation,
    SocialRecommender,
)

NUM_USERS, NUM_ITEMS, DIM = 60, 300, 8


def _world(seed: int) -> tuple[Snapshot, RecommenderService]:
    rng = np.random.default_rng(seed)
    users = [User(f"u{n:02d}") for n in range(NUM_USERS)]
    items = [Item(f"i{n:03d}", f"c{n % 3}", float(n % 50)) for n in range(NUM_ITEMS)]
    friendships = {
        canonical_friendship(Friendship(f"u{a:02d}", f"u{b:02d}"))
        for a, b in rng.integers(NUM_USERS, size=(150, 2))
        if a != b
    }
    rows = [
        Interaction(f"u{u:02d}", f"i{i:03d}", "purchase", ts=int(t))
        for u, i, t in zip(
            rng.integers(NUM_USERS - 5, size=900),  # the last 5 users have no history
            rng.integers(NUM_ITEMS, size=900),
            rng.integers(0, 10_000, size=900),
            strict=True,
        )
    ]
    snapshot = build_snapshot(users, items, friendships, rows, source="random")
    generator = torch.Generator().manual_seed(seed)
    service = RecommenderService(
        torch.randn(NUM_USERS, DIM, generator=generator),
        torch.randn(NUM_ITEMS, DIM, generator=generator),
        snapshot.user_ids,
        snapshot.item_ids,
    )
    return snapshot, service


def _answers(social: SocialRecommender, **kwargs: object) -> list:
    out = []
    for user in [f"u{n:02d}" for n in range(NUM_USERS)]:
        result = social.recommend(user, **kwargs)  # type: ignore[arg-type]
        out.append((result.strategy, [(i.item_id, i.reasons) for i in result.items], result))
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 10},
        {"k": 10, "exclude_seen": False},
        {"k": 40, "item_filter": ItemFilter(category="c1")},
        {"k": 5, "item_filter": ItemFilter(min_price=10.0, max_price=20.0)},
        {"k": 100},
    ],
)
def test_staged_answers_equal_the_catalogue_scan(seed: int, kwargs: dict) -> None:
    snapshot, rec = _world(seed)
    scan = SocialRecommender(LiveGraph(snapshot), rec, candidates=0)
    staged = SocialRecommender(LiveGraph(snapshot), rec, candidates=20)
    for social in (scan, staged):  # fresh events: a user folded in, a friend's purchase
        social.live.add_interactions([Interaction("u03", "i007", "purchase", ts=20_000)])
        social.fold_in_user("u03", [7])
    expected = _answers(scan, **kwargs)
    _answers(staged, **kwargs)  # first requests: every stage is computed
    assert staged._stages is not None and staged._stages.misses > 0
    hits = staged._stages.hits
    got = _answers(staged, **kwargs)
    assert staged._stages.hits > hits  # the second round is served from stages
    for (s1, items1, r1), (s2, items2, r2) in zip(expected, got, strict=True):
        assert (s1, items1) == (s2, items2), r1.user_id
        for a, b in zip(r1.items, r2.items, strict=True):
            assert a.score == pytest.approx(b.score, rel=1e-6, abs=1e-9)
            assert a.model_score == pytest.approx(b.model_score, rel=1e-6, abs=1e-9)


def test_stage_floor_bounds_every_other_item() -> None:
    scores = np.random.default_rng(3).normal(size=500)
    stage = Stage.from_scores(scores, 25)
    outside = np.setdiff1d(np.arange(500), stage.items)
    assert len(stage.items) == 25 and scores[outside].max() <= stage.floor
    assert stage.floor == scores[stage.items].min()
    assert np.array_equal(np.sort(stage.items), np.sort(np.argsort(-scores)[:25]))


def test_cache_drops_the_least_recently_used() -> None:
    cache = CandidateCache(size=3, capacity=2)
    scores = np.arange(10, dtype=np.float64)
    cache.remember(0, scores)
    cache.remember(1, scores)
    assert cache.get(0) is not None  # 0 is now the most recent
    cache.remember(2, scores)
    assert cache.get(1) is None and cache.get(0) is not None and cache.get(2) is not None
    with pytest.raises(ValueError, match="size and capacity"):
        CandidateCache(size=0, capacity=1)


def test_the_route_writes_the_service_result_in_the_response_schema() -> None:
    """The route serialises service dataclasses directly: their JSON must be exactly a
    ``RecommendationsResponse`` (no field missing, renamed or extra)."""
    result = Recommendation(
        "u1",
        "personalized",
        [
            RankedItem(
                "i1",
                1.5,
                1.25,
                (
                    Reason("friends_purchased", count=2, user_ids=("a", "b")),
                    Reason("similar_to", item_ids=("i2",)),
                ),
            ),
            RankedItem("i3", 0.5, 0.5, (Reason("popular", count=7),)),
        ],
    )
    body = _BODY.dump_json(served(result, "s1"), exclude_none=True)
    schema = RecommendationsResponse.model_validate_json(body)
    assert json.loads(body) == json.loads(schema.model_dump_json(exclude_none=True))
