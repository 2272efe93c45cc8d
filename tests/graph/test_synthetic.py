"""The synthetic world generator: determinism, knobs, planted structure, loadable files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from graph.load import load_directory
from graph.schema import INTERACTION_KINDS
from graph.sqlite_store import SQLiteStore
from graph.synthetic import (
    CORRUPTION_TABLES,
    PURCHASE,
    VIEW,
    World,
    WorldConfig,
    activation_probability,
    attended_purchase_share,
    generate_world,
    write_world,
)

SMALL = {"num_users": 600, "num_items": 300, "num_communities": 6, "interactions_per_user": 12.0}
TABLE_FILES = ("users.csv", "items.csv", "friendships.csv", "interactions.csv")


def small_world(**overrides: object) -> World:
    return generate_world(WorldConfig(**{**SMALL, **overrides}))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world() -> World:
    return small_world(seed=7)


def read_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_users", 1),
        ("num_users", 10.5),
        ("seed", True),
        ("num_items", 0),
        ("num_communities", 0),
        ("categories_per_community", 99),
        ("homophily", 1.5),
        ("kol_fraction", 0.9),
        ("kol_niche_share", -0.1),
        ("interactions_per_user", 0.5),
        ("funnel", (0.5, 0.5)),
        ("funnel", (0.5, 1.2, 0.5)),
        ("social_influence", 1.0),
        ("social_conversion", 0.0),
        ("price_median_range", (10.0, 1.0)),
        ("avg_friends", float("nan")),
        ("duration_s", 10),
        ("seed", -1),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be .*got {re.escape(repr(value))}$"):
        WorldConfig(**{field: value})  # type: ignore[arg-type]


def test_num_kols() -> None:
    assert WorldConfig(num_users=5000, kol_fraction=0.002).num_kols == 10
    assert WorldConfig(num_users=100, kol_fraction=0.001).num_kols == 1
    assert WorldConfig(kol_fraction=0.0).num_kols == 0


def test_activation_probability_known_values() -> None:
    p = activation_probability([0, 1, 4, 10], social_influence=0.4, social_conversion=0.5)
    np.testing.assert_allclose(p, [0.0, 0.4, 0.1, 0.04])
    with pytest.raises(ValueError, match="social_influence must be in"):
        activation_probability([1], social_influence=1.0, social_conversion=0.5)
    with pytest.raises(ValueError, match="social_conversion must be in"):
        activation_probability([1], social_influence=0.1, social_conversion=0.0)


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "num_users": 2,
            "num_items": 1,
            "num_communities": 2,
            "num_categories": 1,
            "categories_per_community": 1,
        },
        {"avg_friends": 0.0, "avg_follows": 0.0, "kol_fraction": 0.0},
        {"social_influence": 0.0, "taste_focus": 0.0, "activity_sigma": 0.0},
        {"popularity_exponent": 0.0, "follow_exponent": 0.0, "homophily": 1.0},
    ],
)
def test_degenerate_worlds_generate(overrides: dict[str, object], tmp_path: Path) -> None:
    w = small_world(**overrides)
    assert w.stats["interactions"] >= w.num_users
    files = write_world(w, tmp_path)
    assert files.clean_rows["users"] == w.num_users


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_files_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_world(small_world(seed=seed), tmp_path / name, corrupt_fraction=0.02)
    first, again, other = (read_bytes(tmp_path / n) for n in "abc")
    assert first == again
    assert set(first) == set(other)
    for name in TABLE_FILES:
        assert first[name] != other[name], name


# -- sizes and invariants -----------------------------------------------------------------------


def test_sizes_and_invariants(world: World) -> None:
    cfg = world.config
    assert world.num_users == cfg.num_users and world.num_items == cfg.num_items
    assert len(world.kol_users) == cfg.num_kols == 1
    assert set(np.unique(world.user_community)) <= set(range(cfg.num_communities))
    assert world.item_category.max() < cfg.num_categories
    assert (world.item_price > 0).all()
    # Every user engages; timestamps stay in the window; only funnel kinds occur.
    assert len(np.unique(world.inter_user)) == cfg.num_users
    assert world.inter_ts.min() >= cfg.start_ts and world.inter_ts.max() <= cfg.end_ts
    assert set(np.unique(world.inter_kind)) <= {VIEW, 1, 2, PURCHASE}
    kinds = np.bincount(world.inter_kind, minlength=4)
    assert kinds[0] > kinds[1] > kinds[2] and kinds[1] > kinds[3] > 0
    # Interaction keys are unique and rows are in time order.
    key = np.stack([world.inter_user, world.inter_item, world.inter_kind, world.inter_ts], axis=1)
    assert len(np.unique(key, axis=0)) == len(key)
    assert (np.diff(world.inter_ts) >= 0).all()
    # Friendships canonical and unique; follows without self-loops, repeats or friend overlap.
    assert (world.friend_a < world.friend_b).all()
    pair = world.friend_a * cfg.num_users + world.friend_b
    assert len(np.unique(pair)) == len(pair)
    assert (world.follow_src != world.follow_dst).all()
    follow = world.follow_src * cfg.num_users + world.follow_dst
    assert len(np.unique(follow)) == len(follow)
    lo = np.minimum(world.follow_src, world.follow_dst)
    hi = np.maximum(world.follow_src, world.follow_dst)
    assert not np.isin(lo * cfg.num_users + hi, pair).any()


def test_every_purchase_follows_a_view(world: World) -> None:
    first_view: dict[tuple[int, int], int] = {}
    rows = zip(world.inter_user, world.inter_item, world.inter_kind, world.inter_ts, strict=True)
    for u, i, k, ts in rows:
        if k == VIEW:
            first_view.setdefault((int(u), int(i)), int(ts))
        elif k == PURCHASE:
            assert first_view.get((int(u), int(i)), ts + 1) <= ts


def test_interactions_per_user_knob() -> None:
    light, heavy = small_world(interactions_per_user=5.0), small_world(interactions_per_user=20.0)
    views_light = (light.inter_kind == VIEW).sum() / light.num_users
    views_heavy = (heavy.inter_kind == VIEW).sum() / heavy.num_users
    assert 4.0 < views_light < 7.5 and 16.0 < views_heavy < 26.0


# -- planted structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("homophily", [0.2, 0.8])
def test_homophily_measurable(homophily: float) -> None:
    w = generate_world(WorldConfig(num_users=3000, num_items=300, homophily=homophily, seed=1))
    same = w.user_community[w.friend_a] == w.user_community[w.friend_b]
    shares = np.bincount(w.user_community) / w.num_users
    expected = homophily + (1 - homophily) * float(np.sum(shares**2))
    assert abs(same.mean() - expected) < 0.03
    assert w.stats["within_community_friend_share"] == pytest.approx(same.mean())


def test_kols_have_heavy_tailed_followers() -> None:
    w = generate_world(WorldConfig(num_users=3000, num_items=300, seed=2))
    followers = w.follower_counts()
    top = np.argsort(-followers)[: w.config.num_kols]
    assert set(top.tolist()) <= set(w.kol_users.tolist())
    assert followers.max() >= 50 * max(1.0, float(np.median(followers)))


def _cross_community_overlap(world: World) -> tuple[float, float]:
    """Mean shared-follower share ``|A & B| / min(|A|, |B|)`` over pairs of KOLs from different
    communities (with >= 20 followers each): (same-niche pairs, different-niche pairs)."""
    audiences = [set(world.follow_src[world.follow_dst == k].tolist()) for k in world.kol_users]
    home = world.user_community[world.kol_users]
    same, different = [], []
    for i in range(len(audiences)):
        for j in range(i + 1, len(audiences)):
            smaller = min(len(audiences[i]), len(audiences[j]))
            if home[i] == home[j] or smaller < 20:
                continue
            share = len(audiences[i] & audiences[j]) / smaller
            (same if world.kol_niche[i] == world.kol_niche[j] else different).append(share)
    assert len(same) >= 10 and len(different) >= 100
    return float(np.mean(same)), float(np.mean(different))


def test_kol_niches_share_audiences_across_communities() -> None:
    base = {"num_users": 4000, "num_items": 200, "kol_fraction": 0.01, "seed": 3}
    worlds = {
        share: generate_world(WorldConfig(**base, kol_niche_share=share))  # type: ignore[arg-type]
        for share in (0.0, 0.5, 1.0)
    }
    for w in worlds.values():
        # A KOL's niche is one of its community's preferred categories.
        home = w.user_community[w.kol_users]
        assert all(c in w.community_categories[k] for k, c in zip(home, w.kol_niche, strict=True))
    (same0, diff0), (same5, diff5), (same1, diff1) = (
        _cross_community_overlap(worlds[s]) for s in (0.0, 0.5, 1.0)
    )
    # Community follows alone: same-niche KOLs of different communities are as unrelated as
    # any pair; niche follows make them share audiences, more so the larger the share.
    assert same0 < diff0 + 0.03
    assert same5 > 3 * diff5 and same1 > same5 + 0.03
    assert max(diff0, diff5, diff1) < 0.06


def test_social_influence_is_measurable_and_consistent() -> None:
    base = {"num_users": 2000, "num_items": 400, "seed": 5}
    none = generate_world(WorldConfig(**base, social_influence=0.0))  # type: ignore[arg-type]
    strong = generate_world(WorldConfig(**base, social_influence=0.5))  # type: ignore[arg-type]
    assert none.induced_mask.sum() == 0
    share = strong.induced_mask.sum() / strong.purchase_mask.sum()
    assert 0.3 < share < 0.55
    assert attended_purchase_share(strong) > attended_purchase_share(none) + 0.2

    # Ground truth: an induced purchase's influencer is attended to and bought it earlier.
    n = strong.num_users
    attended = set(
        (strong.friend_a * n + strong.friend_b).tolist()
        + (strong.friend_b * n + strong.friend_a).tolist()
        + (strong.follow_src * n + strong.follow_dst).tolist()
    )
    buys = strong.purchase_mask
    earliest: dict[tuple[int, int], int] = {}
    for u, i, ts in zip(
        strong.inter_user[buys], strong.inter_item[buys], strong.inter_ts[buys], strict=True
    ):
        earliest.setdefault((int(u), int(i)), int(ts))
    for row in np.flatnonzero(strong.induced_mask):
        buyer, parent = int(strong.inter_user[row]), int(strong.inter_influencer[row])
        assert buyer * n + parent in attended
        assert earliest[(parent, int(strong.inter_item[row]))] < strong.inter_ts[row]


def test_user_item_structure_beats_popularity(world: World) -> None:
    """Held-out items are found far better by co-occurrence than by global popularity."""
    n, m = world.num_users, world.num_items
    pairs = np.unique(world.inter_user.astype(np.int64) * m + world.inter_item)
    users, items = pairs // m, pairs % m
    test = np.random.default_rng(0).random(len(pairs)) < 0.2
    train = sp.csr_matrix((np.ones((~test).sum()), (users[~test], items[~test])), shape=(n, m))
    held = sp.csr_matrix((np.ones(test.sum()), (users[test], items[test])), shape=(n, m)).toarray()

    def recall_at_10(scores: np.ndarray) -> float:
        scores = np.where(train.toarray() > 0, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :10]
        hits = np.take_along_axis(held, top, axis=1).sum(axis=1)
        counts = held.sum(axis=1)
        ok = counts > 0
        return float((hits[ok] / np.minimum(counts[ok], 10)).mean())

    popularity = np.tile(np.asarray(train.sum(axis=0)), (n, 1))
    item_sim = (train.T @ train).toarray()
    cooccurrence = train @ item_sim
    assert recall_at_10(cooccurrence) > 2 * recall_at_10(popularity)


# -- files and loading ------------------------------------------------------------------------


def _reason(row: dict[str, str]) -> str:
    text = row["reason"]
    if text.startswith("duplicate"):
        return "duplicate"
    if text.startswith("unknown user"):
        return "unknown_user"
    if "kind" in text:
        return "unknown_kind"
    if row["field"] == "price":
        return "negative_price"
    if row["field"] in ("ts", "signup_ts"):
        return "bad_timestamp"
    assert text == "self-friendship", row
    return "self_friendship"


def test_clean_files_load_without_rejects(tmp_path: Path, world: World) -> None:
    files = write_world(world, tmp_path / "world")
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        summary = load_directory(store, files.directory, tmp_path / "report")
    finally:
        store.close()
    assert summary.rejected == 0
    assert files.corrupt_rows == 0
    stats = world.stats
    assert summary.counts.users == world.num_users
    assert summary.counts.items == world.num_items
    assert summary.counts.friendships == stats["friendships"] + stats["follows"]
    assert summary.counts.interactions == stats["interactions"]
    truth = json.loads(files.ground_truth.read_text())
    assert truth["config"]["seed"] == world.config.seed
    assert truth["corruption"]["total"] == 0
    assert [k["user_id"] for k in truth["kols"]] == [world.user_ids[k] for k in world.kol_users]
    with (tmp_path / "world" / "ground_truth_purchases.csv").open() as handle:
        purchases = list(csv.DictReader(handle))
    assert len(purchases) == stats["purchases"]
    assert sum(1 for p in purchases if p["influencer_id"]) == stats["induced_purchases"]


def test_corrupt_rows_are_exactly_the_rejects(tmp_path: Path, world: World) -> None:
    files = write_world(world, tmp_path / "world", corrupt_fraction=0.01, seed=11)
    truth = json.loads(files.ground_truth.read_text())["corruption"]
    assert truth["total"] == files.corrupt_rows == round(0.01 * sum(files.clean_rows.values()))
    assert all(count > 0 for count in truth["by_reason"].values())
    assert set(truth["by_reason"]) == set(CORRUPTION_TABLES)
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        summary = load_directory(store, files.directory, tmp_path / "report")
    finally:
        store.close()
    assert {t.table: t.rejected for t in summary.tables} == truth["by_table"]
    assert {t.table: t.accepted for t in summary.tables} == files.clean_rows
    with summary.rejects_path.open() as handle:
        reasons = [_reason(row) for row in csv.DictReader(handle)]
    assert {r: reasons.count(r) for r in CORRUPTION_TABLES} == truth["by_reason"]


def test_write_world_rejects_bad_fraction(tmp_path: Path, world: World) -> None:
    with pytest.raises(ValueError, match="corrupt_fraction must be in"):
        write_world(world, tmp_path, corrupt_fraction=0.8)


def test_iterators_and_snapshot_degree_match_ground_truth(world: World) -> None:
    snapshot = world.to_snapshot()
    assert snapshot.user_ids == world.user_ids and snapshot.item_ids == world.item_ids
    assert len(snapshot.inter_user) == len(world.inter_user)
    assert set(snapshot.inter_kind.tolist()) <= {
        INTERACTION_KINDS.index(k) for k in INTERACTION_KINDS
    }
    # The reach formula's degree is the snapshot out-degree of the receiving user.
    out_degree = np.bincount(snapshot.social_src, minlength=world.num_users)
    np.testing.assert_array_equal(out_degree, world.attention_degree)
