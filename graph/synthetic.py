"""Synthetic social-commerce worlds with known ground truth, deterministic from a seed.

:func:`generate_world` builds a :class:`World` (numpy columns, fast enough for 1M users) from a
:class:`WorldConfig`; :func:`write_world` writes it in the input directory format of
:mod:`graph.readers` plus ground-truth files, optionally with a known set of corrupt rows.

Mechanics
---------
1. **Communities.** Users are split into ``num_communities`` communities (sizes from a
   Dirichlet(4) draw, so uneven but comparable). Each community has a home region (a user lives
   there with probability 0.8) and prefers ``categories_per_community`` categories with
   Dirichlet(1) weights; every user perturbs those weights (Dirichlet with concentration 3).
2. **Catalogue.** Each item has a home community (drawn by community size) and, with probability
   ``item_focus``, a category preferred by that community (else a uniform category), a random
   appeal rank (its popularity order) and a lognormal price: each category has a median drawn
   log-uniformly from ``price_median_range`` and ``price_sigma`` is the log-scale spread.
3. **Friendships** (``friend``, mutual). ``num_users * avg_friends / 2`` pairs: one end drawn
   with a lognormal "sociability" weight, the other from the same community with probability
   ``homophily``, else uniformly. So the within-community share of friendships is about
   ``homophily + (1 - homophily) * sum(community_share ** 2)``.
4. **Follows** (``follow``) and **KOLs.** ``round(kol_fraction * num_users)`` accounts are key
   opinion leaders with fame ``rank ** -follow_exponent``. Each user makes on average
   ``avg_follows`` follows; a share ``kol_follow_share`` of them goes to a KOL (one of the own
   community's KOLs with probability ``homophily``, chosen by fame), the rest to a uniform user
   (own community with probability ``homophily``). A few KOLs thus get very many followers.
   **Niches:** each KOL has a niche, one of its community's preferred categories (by the
   community's weights). A share ``kol_niche_share`` of KOL follows instead goes by interest:
   the follower picks a category its own community prefers (by those weights) and follows a
   KOL of that niche from any community, chosen by fame (the community rule stays when no KOL
   has that niche). Fans of a niche thus follow several of its KOLs, across communities, so
   KOLs of one niche share much of their audience. **Fan loyalty:** with probability
   ``kol_fan_loyalty`` a niche follow goes to the follower's favourite category (one per user,
   drawn the same way) instead of a fresh pick, so a fan's KOL follows concentrate on one
   niche and same-niche KOL audiences overlap more (0, the default, adds no random draw, so
   worlds are unchanged).
   Self-follows, repeats and follows of an existing friend are dropped.
5. **Organic engagements.** User activity is lognormal (``activity_sigma``) around
   ``interactions_per_user`` engagements (at least one each), at uniform times in
   ``[start_ts, start_ts + duration_s]``. With probability ``taste_focus`` an engagement picks
   a category from the user's taste and an item of the user's community in that category
   (falling back to the whole category when the community has none); otherwise it explores the
   whole catalogue. Within the chosen pool the item is drawn by appeal rank with a Zipf law of
   exponent ``popularity_exponent``. An engagement writes a ``view``, then ``click`` with
   probability ``funnel[0]``, ``cart`` given click ``funnel[1]`` and ``purchase`` given cart
   ``funnel[2]``, each a little later than the previous step.
6. **Social influence** (the signal, an independent cascade on purchases). User ``v``
   *attends to* ``u`` when they are friends or ``v`` follows ``u``; ``attention_degree[v]``
   counts the accounts ``v`` attends to. When ``u`` first buys an item, each ``v`` attending to
   ``u`` is exposed with probability
   ``min(1, social_influence / (social_conversion * attention_degree[v]))``: ``v`` views the
   item after an exponential delay (mean ``influence_delay_s``) and then buys it (click,
   purchase) with probability ``social_conversion``, or else only browses (a click with
   probability ``funnel[0]``). The per-edge activation probability is therefore
   :func:`activation_probability`, which depends on the receiver only
   (``World.influence_prob``); summed over the accounts a user attends to it is at most
   ``social_influence``. Users who buy the item organically (at any time in the window) or were
   already activated for it are not exposed; of several exposures of one user to one item in a
   generation only the earliest may convert; a step that would fall after the end of the window
   is dropped. Hence, up to the window, each item's buyers are an independent cascade seeded by
   its organic buyers, a purchase induces about ``social_influence`` purchases on average (< 1,
   so cascades die out) and about that share of all purchases is socially induced (less where
   the window cuts cascades short). Every row of an induced engagement records its
   ``influencer`` (the buyer whose purchase exposed the user), which bought the item earlier.

Homophily (friends share a community, hence a taste) means friends co-purchase even with
``social_influence = 0``; :func:`attended_purchase_share` measures how often a purchase's item
was bought earlier by an attended account, so the two effects can be compared.

Reach ground truth from a snapshot: a snapshot social edge ``src -> dst`` means ``src`` attends
to ``dst`` (:mod:`graph.snapshot`), so its activation probability is
``activation_probability(out_degree(src), social_influence, social_conversion)``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from graph.schema import (
    INTERACTION_KINDS,
    Friendship,
    Interaction,
    InteractionKind,
    Item,
    User,
)
from graph.snapshot import Snapshot, build_snapshot

#: Progress hook: called with (stage, units just processed).
GenerateProgress = Callable[[str, int], None]

VIEW: Final[int] = INTERACTION_KINDS.index("view")
CLICK: Final[int] = INTERACTION_KINDS.index("click")
CART: Final[int] = INTERACTION_KINDS.index("cart")
PURCHASE: Final[int] = INTERACTION_KINDS.index("purchase")

#: The reasons :func:`write_world` corrupts rows for, with the tables each reason can hit.
CORRUPTION_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "unknown_user": ("friendships", "interactions"),
    "unknown_kind": ("friendships", "interactions"),
    "negative_price": ("items",),
    "bad_timestamp": ("users", "interactions"),
    "self_friendship": ("friendships",),
    "duplicate": ("users", "friendships", "interactions"),
}

_REGION_FOCUS: Final[float] = 0.8
_TASTE_CONCENTRATION: Final[float] = 3.0
_COMMUNITY_CONCENTRATION: Final[float] = 4.0
_SOCIABILITY_SIGMA: Final[float] = 0.5
_SIGNUP_SPAN_S: Final[int] = 2 * 365 * 86_400
_CLICK_DELAY_S: Final[float] = 120.0
_CART_DELAY_S: Final[float] = 600.0
_PURCHASE_DELAY_S: Final[float] = 1800.0
_CHUNK: Final[int] = 1 << 21
_MAX_GENERATIONS: Final[int] = 200
_FAR_FUTURE_TS: Final[int] = 4_102_444_800  # 2100-01-01T00:00:00Z


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of a synthetic world (see the module docstring for how each is used).

    Attributes:
        num_users: Number of users (>= 2).
        num_items: Number of items (>= 1).
        num_communities: Number of user communities (1 .. num_users).
        num_categories: Number of item categories (>= 1).
        categories_per_community: Categories each community prefers (1 .. num_categories).
        num_regions: Number of user regions (>= 1).
        avg_friends: Mean number of mutual friends per user (>= 0).
        homophily: Probability that a friend or a follow stays in the own community, [0, 1].
        kol_fraction: Share of users who are KOLs, [0, 0.5]; at least one KOL when > 0.
        avg_follows: Mean number of accounts a user follows (>= 0).
        kol_follow_share: Share of follows that go to a KOL, [0, 1].
        follow_exponent: Zipf exponent of KOL fame (>= 0; larger = more concentrated).
        kol_niche_share: Share of KOL follows that go by interest to a KOL of a niche the
            follower's community prefers rather than by community, [0, 1].
        kol_fan_loyalty: Probability that such a follow goes to the follower's favourite
            category rather than a fresh pick, [0, 1] (default 0: independent picks).
        interactions_per_user: Mean organic engagements per user (>= 1); each writes a view and
            possibly click, cart and purchase rows, so the row count is larger.
        activity_sigma: Log-scale spread of user activity (>= 0; 0 = equal activity).
        taste_focus: Probability that an engagement follows the user's community taste, [0, 1].
        item_focus: Probability that an item's category is one its community prefers, [0, 1].
        popularity_exponent: Zipf exponent of item appeal within a pool (>= 0).
        funnel: Probabilities (click | view, cart | click, purchase | cart), each in [0, 1].
        social_influence: Influence strength, [0, 1): a user's activation probabilities over
            the accounts it attends to sum to at most this; on average a purchase induces about
            this many purchases, so roughly this share of purchases is socially induced.
        social_conversion: Probability that an exposed user buys, (0, 1].
        influence_delay_s: Mean delay in seconds between a purchase and a friend's view (>= 1).
        price_median_range: (low, high) bounds of the per-category median price, 0 < low <= high.
        price_sigma: Log-scale spread of prices within a category (>= 0).
        in_stock_fraction: Share of items in stock, [0, 1].
        start_ts: Start of the activity window, epoch seconds (>= 0; default 2025-01-01 UTC).
        duration_s: Length of the activity window in seconds (>= 3600).
        seed: Seed of every random draw (>= 0); the same config gives the same world.
    """

    num_users: int = 5000
    num_items: int = 2000
    num_communities: int = 20
    num_categories: int = 24
    categories_per_community: int = 3
    num_regions: int = 8
    avg_friends: float = 8.0
    homophily: float = 0.8
    kol_fraction: float = 0.002
    avg_follows: float = 4.0
    kol_follow_share: float = 0.5
    follow_exponent: float = 1.0
    kol_niche_share: float = 0.5
    kol_fan_loyalty: float = 0.0
    interactions_per_user: float = 20.0
    activity_sigma: float = 0.8
    taste_focus: float = 0.85
    item_focus: float = 0.8
    popularity_exponent: float = 1.0
    funnel: tuple[float, float, float] = (0.35, 0.45, 0.6)
    social_influence: float = 0.4
    social_conversion: float = 0.5
    influence_delay_s: int = 2 * 86_400
    price_median_range: tuple[float, float] = (5.0, 500.0)
    price_sigma: float = 0.5
    in_stock_fraction: float = 0.95
    start_ts: int = 1_735_689_600
    duration_s: int = 180 * 86_400
    seed: int = 0

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, expected: str) -> None:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")

        def finite(value: float) -> bool:
            return isinstance(value, int | float) and math.isfinite(value)

        def unit(value: float) -> bool:
            return finite(value) and 0.0 <= value <= 1.0

        for name in (
            "num_users",
            "num_items",
            "num_communities",
            "num_categories",
            "categories_per_community",
            "num_regions",
            "influence_delay_s",
            "start_ts",
            "duration_s",
            "seed",
        ):
            value = getattr(self, name)
            check(
                name, isinstance(value, int | np.integer) and not isinstance(value, bool), "an int"
            )

        check("num_users", self.num_users >= 2, ">= 2")
        check("num_items", self.num_items >= 1, ">= 1")
        check("num_communities", 1 <= self.num_communities <= self.num_users, "in [1, num_users]")
        check("num_categories", self.num_categories >= 1, ">= 1")
        check(
            "categories_per_community",
            1 <= self.categories_per_community <= self.num_categories,
            "in [1, num_categories]",
        )
        check("num_regions", self.num_regions >= 1, ">= 1")
        check("avg_friends", finite(self.avg_friends) and self.avg_friends >= 0, ">= 0")
        check("homophily", unit(self.homophily), "in [0, 1]")
        check("kol_fraction", unit(self.kol_fraction) and self.kol_fraction <= 0.5, "in [0, 0.5]")
        check("avg_follows", finite(self.avg_follows) and self.avg_follows >= 0, ">= 0")
        check("kol_follow_share", unit(self.kol_follow_share), "in [0, 1]")
        check("follow_exponent", finite(self.follow_exponent) and self.follow_exponent >= 0, ">= 0")
        check("kol_niche_share", unit(self.kol_niche_share), "in [0, 1]")
        check("kol_fan_loyalty", unit(self.kol_fan_loyalty), "in [0, 1]")
        check(
            "interactions_per_user",
            finite(self.interactions_per_user) and self.interactions_per_user >= 1,
            ">= 1",
        )
        check("activity_sigma", finite(self.activity_sigma) and self.activity_sigma >= 0, ">= 0")
        check("taste_focus", unit(self.taste_focus), "in [0, 1]")
        check("item_focus", unit(self.item_focus), "in [0, 1]")
        check(
            "popularity_exponent",
            finite(self.popularity_exponent) and self.popularity_exponent >= 0,
            ">= 0",
        )
        check(
            "funnel",
            len(self.funnel) == 3 and all(unit(p) for p in self.funnel),
            "three probabilities in [0, 1]",
        )
        check(
            "social_influence",
            finite(self.social_influence) and 0 <= self.social_influence < 1,
            "in [0, 1)",
        )
        check(
            "social_conversion",
            unit(self.social_conversion) and self.social_conversion > 0,
            "in (0, 1]",
        )
        check("influence_delay_s", self.influence_delay_s >= 1, ">= 1")
        low, high = self.price_median_range
        check(
            "price_median_range",
            finite(low) and finite(high) and 0 < low <= high,
            "(low, high) with 0 < low <= high",
        )
        check("price_sigma", finite(self.price_sigma) and self.price_sigma >= 0, ">= 0")
        check("in_stock_fraction", unit(self.in_stock_fraction), "in [0, 1]")
        check("start_ts", self.start_ts >= 0, ">= 0")
        check("duration_s", self.duration_s >= 3600, ">= 3600")
        check("seed", self.seed >= 0, ">= 0")

    @property
    def num_kols(self) -> int:
        """Number of KOL accounts: ``round(kol_fraction * num_users)``, at least 1 if > 0."""
        if self.kol_fraction == 0:
            return 0
        return max(1, round(self.kol_fraction * self.num_users))

    @property
    def end_ts(self) -> int:
        """Last timestamp of the activity window."""
        return self.start_ts + self.duration_s


@dataclass(eq=False)
class World:
    """A generated world as numpy columns; users and items are indexed ``0 .. n-1``.

    Interaction rows are sorted by (ts, user, item, kind) with unique (user, item, kind, ts);
    ``inter_kind`` holds codes into ``graph.schema.INTERACTION_KINDS`` and every value is 1.
    Friendships are stored once with ``friend_a < friend_b``; ``follow_src`` follows
    ``follow_dst``.

    Ground truth: ``user_community``, ``kol_users`` and ``kol_niche`` (each KOL's niche
    category), ``item_community`` (home community),
    ``item_appeal_rank`` (0 = most appealing), ``community_categories`` and
    ``community_category_weights`` (K x categories_per_community), ``attention_degree`` and
    ``influence_prob`` (per receiving user, see :func:`activation_probability`),
    ``inter_influencer`` (the user whose purchase exposed this row's user, -1 for organic rows)
    and ``stats`` (:func:`world_stats`).
    """

    config: WorldConfig
    user_community: NDArray[np.int32]
    user_region: NDArray[np.int32]
    user_signup_ts: NDArray[np.int64]
    kol_users: NDArray[np.int64]
    kol_niche: NDArray[np.int32]
    item_community: NDArray[np.int32]
    item_category: NDArray[np.int32]
    item_appeal_rank: NDArray[np.int64]
    item_price: NDArray[np.float64]
    item_in_stock: NDArray[np.bool_]
    community_categories: NDArray[np.int64]
    community_category_weights: NDArray[np.float64]
    friend_a: NDArray[np.int64]
    friend_b: NDArray[np.int64]
    follow_src: NDArray[np.int64]
    follow_dst: NDArray[np.int64]
    attention_degree: NDArray[np.int64]
    influence_prob: NDArray[np.float64]
    inter_user: NDArray[np.int32]
    inter_item: NDArray[np.int32]
    inter_kind: NDArray[np.int8]
    inter_ts: NDArray[np.int64]
    inter_influencer: NDArray[np.int32]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return int(self.user_community.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.item_category.shape[0])

    @cached_property
    def user_ids(self) -> list[str]:
        """User index -> id (``u`` + zero-padded index, so string order = index order)."""
        width = len(str(self.num_users - 1))
        return [f"u{i:0{width}d}" for i in range(self.num_users)]

    @cached_property
    def item_ids(self) -> list[str]:
        """Item index -> id (``i`` + zero-padded index)."""
        width = len(str(self.num_items - 1))
        return [f"i{i:0{width}d}" for i in range(self.num_items)]

    @cached_property
    def category_names(self) -> list[str]:
        width = len(str(self.config.num_categories - 1))
        return [f"cat{c:0{width}d}" for c in range(self.config.num_categories)]

    @cached_property
    def region_names(self) -> list[str]:
        width = len(str(self.config.num_regions - 1))
        return [f"r{r:0{width}d}" for r in range(self.config.num_regions)]

    @property
    def purchase_mask(self) -> NDArray[np.bool_]:
        return self.inter_kind == PURCHASE

    @property
    def induced_mask(self) -> NDArray[np.bool_]:
        """Purchases that were socially induced (their influencer bought the item earlier)."""
        return self.purchase_mask & (self.inter_influencer >= 0)

    def follower_counts(self) -> NDArray[np.int64]:
        """Number of followers of every user."""
        return np.bincount(self.follow_dst, minlength=self.num_users)

    def iter_users(self) -> Iterator[User]:
        regions = self.region_names
        for i, uid in enumerate(self.user_ids):
            yield User(uid, regions[self.user_region[i]], int(self.user_signup_ts[i]))

    def iter_items(self) -> Iterator[Item]:
        names = self.category_names
        for i, iid in enumerate(self.item_ids):
            yield Item(
                iid,
                names[self.item_category[i]],
                float(self.item_price[i]),
                bool(self.item_in_stock[i]),
            )

    def iter_friendships(self) -> Iterator[Friendship]:
        uids = self.user_ids
        for a, b in zip(self.friend_a.tolist(), self.friend_b.tolist(), strict=True):
            yield Friendship(uids[a], uids[b], "friend")
        for a, b in zip(self.follow_src.tolist(), self.follow_dst.tolist(), strict=True):
            yield Friendship(uids[a], uids[b], "follow")

    def iter_interactions(self) -> Iterator[Interaction]:
        uids, iids = self.user_ids, self.item_ids
        rows = zip(
            self.inter_user.tolist(),
            self.inter_item.tolist(),
            self.inter_kind.tolist(),
            self.inter_ts.tolist(),
            strict=True,
        )
        for u, i, k, ts in rows:
            yield Interaction(
                uids[u], iids[i], cast(InteractionKind, INTERACTION_KINDS[k]), 1.0, ts
            )

    def to_snapshot(self) -> Snapshot:
        """The world as a snapshot (source ``"synthetic"``), straight from memory: what
        loading its files into a store and exporting gives, without the store."""
        return build_snapshot(
            self.iter_users(),
            self.iter_items(),
            self.iter_friendships(),
            self.iter_interactions(),
            source="synthetic",
        )


@dataclass(frozen=True, slots=True)
class WorldFiles:
    """What :func:`write_world` wrote: paths, clean rows per table and injected bad rows."""

    directory: Path
    tables: dict[str, Path]
    ground_truth: Path
    clean_rows: dict[str, int]
    corrupt_by_reason: dict[str, int]
    corrupt_by_table: dict[str, int]

    @property
    def corrupt_rows(self) -> int:
        return sum(self.corrupt_by_reason.values())


def activation_probability(
    attention_degree: ArrayLike, social_influence: float, social_conversion: float
) -> NDArray[np.float64]:
    """Probability that a purchase by an attended account makes the receiver buy the item.

    ``p = social_conversion * min(1, social_influence / (social_conversion * degree))`` where
    ``degree`` is the number of accounts the receiver attends to (its snapshot out-degree);
    0 where the degree is 0.

    Raises:
        ValueError: if ``social_influence`` is outside [0, 1) or ``social_conversion`` outside
            (0, 1].
    """
    if not 0 <= social_influence < 1:
        raise ValueError(f"social_influence must be in [0, 1), got {social_influence!r}")
    if not 0 < social_conversion <= 1:
        raise ValueError(f"social_conversion must be in (0, 1], got {social_conversion!r}")
    degree = np.asarray(attention_degree, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        expose = np.minimum(1.0, social_influence / (social_conversion * degree))
    return np.where(degree > 0, social_conversion * expose, 0.0)


# -- sampling helpers -------------------------------------------------------------------------


def _zipf_rank(rng: np.random.Generator, size: NDArray[np.int64], exponent: float) -> Any:
    """A rank in ``[0, size)`` per entry, P(rank r) roughly proportional to (r + 1) ** -exponent."""
    u = rng.random(size.shape[0])
    top = size.astype(np.float64) + 1.0
    if abs(exponent - 1.0) < 1e-9:
        x = np.power(top, u)
    else:
        a = 1.0 - exponent
        x = np.power(1.0 + u * (np.power(top, a) - 1.0), 1.0 / a)
    return np.minimum(np.floor(x).astype(np.int64) - 1, size - 1)


def _row_choice(rng: np.random.Generator, cumulative: NDArray[np.float64]) -> Any:
    """One column index per row of a row-wise cumulative probability matrix."""
    u = rng.random((cumulative.shape[0], 1))
    return np.minimum((u >= cumulative).sum(axis=1), cumulative.shape[1] - 1)


def _segments(keys: NDArray[np.int64], num_keys: int) -> tuple[Any, Any, Any]:
    """(order sorting ``keys``, start offset per key, count per key)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=num_keys)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts, counts


def _expand(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> tuple[Any, Any]:
    """For segments (start, count): (owner index, position) of every element, concatenated."""
    owner = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.cumsum(counts) - counts
    offset = np.arange(owner.shape[0]) - np.repeat(first, counts)
    return owner, np.repeat(starts, counts) + offset


def _unique(values: NDArray[np.int64]) -> Any:
    """Sorted distinct values (a sort and a diff: faster than ``np.unique`` on large int keys)."""
    ordered = np.sort(values, kind="stable")
    keep = np.ones(ordered.shape[0], dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _contains(sorted_keys: NDArray[np.int64], values: NDArray[np.int64]) -> Any:
    """Whether each of ``values`` is in the sorted array ``sorted_keys``."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.shape[0] - 1)
    return sorted_keys[pos] == values


def _delay(rng: np.random.Generator, mean: float, size: int) -> Any:
    return 1 + np.floor(rng.exponential(mean, size)).astype(np.int64)


# -- generation stages ------------------------------------------------------------------------


def _users(
    cfg: WorldConfig, rng: np.random.Generator
) -> tuple[Any, Any, Any, Any, NDArray[np.float64]]:
    n, k = cfg.num_users, cfg.num_communities
    share = rng.dirichlet(np.full(k, _COMMUNITY_CONCENTRATION))
    community = rng.choice(k, size=n, p=share).astype(np.int32)
    home_region = rng.integers(cfg.num_regions, size=k)
    region = np.where(
        rng.random(n) < _REGION_FOCUS,
        home_region[community],
        rng.integers(cfg.num_regions, size=n),
    ).astype(np.int32)
    signup = np.maximum(0, cfg.start_ts - rng.integers(0, _SIGNUP_SPAN_S, size=n))
    kols = np.sort(rng.choice(n, size=cfg.num_kols, replace=False)).astype(np.int64)
    return community, region, signup.astype(np.int64), kols, share


def _items(
    cfg: WorldConfig, rng: np.random.Generator, share: NDArray[np.float64]
) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
    k, c, m = cfg.num_communities, cfg.num_categories, cfg.categories_per_community
    preferred = np.argsort(rng.random((k, c)), axis=1)[:, :m].astype(np.int64)
    weights = rng.dirichlet(np.ones(m), size=k)
    home = rng.choice(k, size=cfg.num_items, p=share).astype(np.int32)
    slot = _row_choice(rng, np.cumsum(weights, axis=1)[home])
    category = np.where(
        rng.random(cfg.num_items) < cfg.item_focus,
        preferred[home, slot],
        rng.integers(c, size=cfg.num_items),
    ).astype(np.int32)
    appeal = rng.permutation(cfg.num_items).astype(np.int64)
    low, high = cfg.price_median_range
    median = np.exp(rng.uniform(math.log(low), math.log(high), size=c))
    price = median[category] * np.exp(cfg.price_sigma * rng.standard_normal(cfg.num_items))
    price = np.maximum(0.01, np.round(price, 2))
    in_stock = rng.random(cfg.num_items) < cfg.in_stock_fraction
    return home, category, appeal, price, in_stock, preferred, weights


def _community_pick(
    rng: np.random.Generator,
    community: NDArray[np.int32],
    members: NDArray[np.int64],
    starts: NDArray[np.int64],
    counts: NDArray[np.int64],
) -> Any:
    """A uniform member of each given community (communities must be non-empty)."""
    offset = np.floor(rng.random(community.shape[0]) * counts[community]).astype(np.int64)
    return members[starts[community] + offset]


def _friendships(
    cfg: WorldConfig, rng: np.random.Generator, community: NDArray[np.int32]
) -> tuple[Any, Any]:
    n = cfg.num_users
    pairs = round(n * cfg.avg_friends / 2)
    sociability = rng.lognormal(0.0, _SOCIABILITY_SIGMA, size=n)
    a = rng.choice(n, size=pairs, p=sociability / sociability.sum())
    members, starts, counts = _segments(community.astype(np.int64), cfg.num_communities)
    same = rng.random(pairs) < cfg.homophily
    b = np.where(
        same,
        _community_pick(rng, community[a], members, starts, counts),
        rng.integers(n, size=pairs),
    )
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    key = _unique(lo.astype(np.int64) * n + hi)
    return key // n, key % n


def _follows(
    cfg: WorldConfig,
    rng: np.random.Generator,
    community: NDArray[np.int32],
    kols: NDArray[np.int64],
    friend_key: NDArray[np.int64],
    preferred: NDArray[np.int64],
    weights: NDArray[np.float64],
) -> tuple[Any, Any, Any]:
    """Follows ``(src, dst)`` and each KOL's niche category (in ``kols`` order)."""
    n = cfg.num_users
    total = round(n * cfg.avg_follows)
    follower = rng.integers(n, size=total)
    own = community[follower]
    same = rng.random(total) < cfg.homophily
    members, starts, counts = _segments(community.astype(np.int64), cfg.num_communities)
    target = np.where(
        same, _community_pick(rng, own, members, starts, counts), rng.integers(n, size=total)
    )
    niche = np.zeros(0, dtype=np.int32)
    if kols.shape[0] > 0:
        # KOLs sorted by community; fame by a random global rank.
        fame = np.power(rng.permutation(kols.shape[0]) + 1.0, -cfg.follow_exponent)
        order = np.argsort(community[kols], kind="stable")
        sorted_kols, sorted_fame = kols[order], fame[order]
        cum = np.cumsum(sorted_fame)
        kol_comm = community[sorted_kols].astype(np.int64)
        comm_fame = np.bincount(kol_comm, weights=sorted_fame, minlength=cfg.num_communities)
        comm_before = np.cumsum(comm_fame) - comm_fame
        to_kol = rng.random(total) < cfg.kol_follow_share
        local = same & (comm_fame[own] > 0)
        u = rng.random(total)
        x = np.where(local, comm_before[own] + u * comm_fame[own], u * cum[-1])
        pick = np.minimum(np.searchsorted(cum, x, side="right"), kols.shape[0] - 1)
        target = np.where(to_kol, sorted_kols[pick], target)
        # Niches, drawn after the community rule (kol_niche_share = 0 leaves it unchanged).
        kol_home = community[kols]
        niche = preferred[kol_home, _row_choice(rng, np.cumsum(weights, axis=1)[kol_home])]
        order = np.argsort(niche, kind="stable")
        cum = np.cumsum(fame[order])
        niche_fame = np.bincount(niche[order], weights=fame[order], minlength=cfg.num_categories)
        niche_before = np.cumsum(niche_fame) - niche_fame
        at = np.flatnonzero(to_kol)
        liked = preferred[own[at], _row_choice(rng, np.cumsum(weights, axis=1)[own[at]])]
        if cfg.kol_fan_loyalty > 0:
            cum_weights = np.cumsum(weights, axis=1)
            favourite = preferred[community, _row_choice(rng, cum_weights[community])]
            loyal = rng.random(at.shape[0]) < cfg.kol_fan_loyalty
            liked = np.where(loyal, favourite[follower[at]], liked)
        by_niche = (rng.random(at.shape[0]) < cfg.kol_niche_share) & (niche_fame[liked] > 0)
        x = niche_before[liked] + rng.random(at.shape[0]) * niche_fame[liked]
        pick = np.minimum(np.searchsorted(cum, x, side="right"), kols.shape[0] - 1)
        target[at[by_niche]] = kols[order][pick[by_niche]]
    keep = follower != target
    follower, target = follower[keep], target[keep]
    key = _unique(follower.astype(np.int64) * n + target)
    src, dst = key // n, key % n
    pair = np.minimum(src, dst) * n + np.maximum(src, dst)
    keep = ~_contains(friend_key, pair)
    return src[keep], dst[keep], niche.astype(np.int32)


def _organic(
    cfg: WorldConfig,
    rng: np.random.Generator,
    community: NDArray[np.int32],
    item_home: NDArray[np.int32],
    item_category: NDArray[np.int32],
    item_appeal: NDArray[np.int64],
    preferred: NDArray[np.int64],
    weights: NDArray[np.float64],
    progress: GenerateProgress | None,
) -> tuple[Any, Any, Any, Any]:
    """Organic engagements expanded into funnel rows: (user, item, kind, ts)."""
    n, k, c = cfg.num_users, cfg.num_communities, cfg.num_categories
    num_items = cfg.num_items
    sigma = cfg.activity_sigma
    activity = rng.lognormal(-sigma * sigma / 2, sigma, size=n)
    per_user = 1 + rng.poisson((cfg.interactions_per_user - 1) * activity)
    personal = rng.gamma(_TASTE_CONCENTRATION * weights[community]) + 1e-12
    personal /= personal.sum(axis=1, keepdims=True)
    taste_cum = np.cumsum(personal, axis=1)

    # Pools: items by (community, category) and by category, each in appeal order.
    by_appeal = np.argsort(item_appeal, kind="stable")
    pool_key = (item_home.astype(np.int64) * c + item_category)[by_appeal]
    pool_order, pool_start, pool_size = _segments(pool_key, k * c)
    pool_items = by_appeal[pool_order]
    cat_order, cat_start, cat_size = _segments(item_category[by_appeal].astype(np.int64), c)
    cat_items = by_appeal[cat_order]

    users_all = np.repeat(np.arange(n, dtype=np.int64), per_user)
    out: list[tuple[Any, ...]] = []
    for lo in range(0, users_all.shape[0], _CHUNK):
        user = users_all[lo : lo + _CHUNK]
        size = user.shape[0]
        comm = community[user].astype(np.int64)
        category = preferred[comm, _row_choice(rng, taste_cum[user])]
        focused = rng.random(size) < cfg.taste_focus
        in_pool = focused & (pool_size[comm * c + category] > 0)
        in_cat = focused & ~in_pool & (cat_size[category] > 0)
        pool = np.where(in_pool, comm * c + category, 0)
        span = np.where(in_pool, pool_size[pool], np.where(in_cat, cat_size[category], num_items))
        rank = _zipf_rank(rng, span, cfg.popularity_exponent)
        item = np.where(
            in_pool,
            pool_items[np.minimum(pool_start[pool] + rank, num_items - 1)],
            np.where(
                in_cat,
                cat_items[np.minimum(cat_start[category] + rank, num_items - 1)],
                by_appeal[rank],
            ),
        )
        ts = cfg.start_ts + np.floor(rng.random(size) * cfg.duration_s).astype(np.int64)
        clicked = rng.random(size) < cfg.funnel[0]
        carted = clicked & (rng.random(size) < cfg.funnel[1])
        bought = carted & (rng.random(size) < cfg.funnel[2])
        click_ts = ts + _delay(rng, _CLICK_DELAY_S, size)
        cart_ts = click_ts + _delay(rng, _CART_DELAY_S, size)
        buy_ts = cart_ts + _delay(rng, _PURCHASE_DELAY_S, size)
        for mask, kind, when in (
            (None, VIEW, ts),
            (clicked, CLICK, click_ts),
            (carted, CART, cart_ts),
            (bought, PURCHASE, buy_ts),
        ):
            sel = slice(None) if mask is None else mask
            rows = user[sel].shape[0]
            out.append(
                (
                    user[sel],
                    item[sel],
                    np.full(rows, kind, np.int8),
                    np.minimum(when[sel], cfg.end_ts),
                )
            )
        if progress is not None:
            progress("engagements", size)
    return tuple(np.concatenate([o[j] for o in out]) for j in range(4))  # type: ignore[return-value]


def _cascade(
    cfg: WorldConfig,
    rng: np.random.Generator,
    audience_start: NDArray[np.int64],
    audience_count: NDArray[np.int64],
    audience: NDArray[np.int64],
    attention_degree: NDArray[np.int64],
    seeds: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    progress: GenerateProgress | None,
) -> tuple[Any, Any, Any, Any, Any]:
    """Socially induced rows: (user, item, kind, ts, influencer), generation by generation."""
    num_items = cfg.num_items
    conv, s = cfg.social_conversion, cfg.social_influence
    expose_p = activation_probability(attention_degree, s, conv) / conv
    buyer, item, when = seeds
    active = _unique(buyer * num_items + item)
    out: list[tuple[Any, ...]] = []
    for _ in range(_MAX_GENERATIONS):
        if buyer.shape[0] == 0 or s == 0:
            break
        parent_idx, slot = _expand(audience_start[buyer], audience_count[buyer])
        parts: list[tuple[Any, Any]] = [(parent_idx[:0], slot[:0])]
        for lo in range(0, slot.shape[0], _CHUNK):
            parent = parent_idx[lo : lo + _CHUNK]
            viewer = audience[slot[lo : lo + _CHUNK]]
            hit = rng.random(viewer.shape[0]) < expose_p[viewer]
            parent, viewer = parent[hit], viewer[hit]
            fresh = ~_contains(active, viewer * num_items + item[parent])
            parts.append((parent[fresh], viewer[fresh]))
        parent = np.concatenate([p for p, _ in parts])
        viewer = np.concatenate([v for _, v in parts])
        thing = item[parent]
        size = viewer.shape[0]
        view_ts = when[parent] + _delay(rng, float(cfg.influence_delay_s), size)
        click_ts = view_ts + _delay(rng, _CLICK_DELAY_S, size)
        buy_ts = click_ts + _delay(rng, _PURCHASE_DELAY_S, size)
        buys = (rng.random(size) < conv) & (buy_ts <= cfg.end_ts)
        browse_click = rng.random(size) < cfg.funnel[0]
        # One activation per (user, item): of several exposures that would buy, the earliest
        # does; the others stay views (and clicks) only.
        key = viewer * num_items + thing
        cand = np.flatnonzero(buys)
        order = cand[np.lexsort((buy_ts[cand], key[cand]))]
        first = np.ones(order.shape[0], dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        buys[:] = False
        buys[order[first]] = True
        seen = view_ts <= cfg.end_ts
        clicks = (buys | (seen & browse_click)) & (click_ts <= cfg.end_ts)
        influencer = buyer[parent].astype(np.int32)
        for mask, kind, ts in (
            (seen, VIEW, view_ts),
            (clicks, CLICK, click_ts),
            (buys, PURCHASE, buy_ts),
        ):
            rows = int(mask.sum())
            out.append(
                (
                    viewer[mask],
                    thing[mask],
                    np.full(rows, kind, np.int8),
                    ts[mask],
                    influencer[mask],
                )
            )
        buyer, item, when = viewer[buys], thing[buys], buy_ts[buys]
        active = _unique(np.concatenate((active, key[buys])))
        if progress is not None:
            progress("social", int(buyer.shape[0]))
    if not out:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.int8), empty, np.zeros(0, np.int32)
    return tuple(np.concatenate([o[j] for o in out]) for j in range(5))  # type: ignore[return-value]


def generate_world(config: WorldConfig, progress: GenerateProgress | None = None) -> World:
    """Generate a synthetic social-commerce world (deterministic in ``config``).

    Args:
        config: The knobs, including the seed.
        progress: Called with (stage, units processed) as stages advance; stages are
            ``users``, ``items``, ``friendships``, ``follows``, ``engagements``, ``social``.

    Returns:
        The world, with ground truth (communities, KOLs, per-user activation probability,
        the influencer of every socially induced row) and summary ``stats``.
    """
    cfg = config
    n, num_items = cfg.num_users, cfg.num_items
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(6)]
    community, region, signup, kols, share = _users(cfg, streams[0])
    if progress is not None:
        progress("users", n)
    home, category, appeal, price, in_stock, preferred, weights = _items(cfg, streams[1], share)
    if progress is not None:
        progress("items", num_items)
    friend_a, friend_b = _friendships(cfg, streams[2], community)
    if progress is not None:
        progress("friendships", int(friend_a.shape[0]))
    follow_src, follow_dst, kol_niche = _follows(
        cfg, streams[3], community, kols, friend_a * n + friend_b, preferred, weights
    )
    if progress is not None:
        progress("follows", int(follow_src.shape[0]))

    # Attention: viewer -> account it attends to; audience of u = viewers attending to u.
    viewer = np.concatenate((friend_a, friend_b, follow_src))
    viewed = np.concatenate((friend_b, friend_a, follow_dst))
    attention_degree = np.bincount(viewer, minlength=n).astype(np.int64)
    audience_order, audience_start, audience_count = _segments(viewed, n)
    audience = viewer[audience_order]

    user, item, kind, ts = _organic(
        cfg, streams[4], community, home, category, appeal, preferred, weights, progress
    )
    organic_buys = kind == PURCHASE
    s_user, s_item, s_kind, s_ts, s_influencer = _cascade(
        cfg,
        streams[5],
        audience_start,
        audience_count,
        audience,
        attention_degree,
        (
            user[organic_buys].astype(np.int64),
            item[organic_buys].astype(np.int64),
            ts[organic_buys],
        ),
        progress,
    )
    all_user = np.concatenate((user, s_user)).astype(np.int32)
    all_item = np.concatenate((item, s_item)).astype(np.int32)
    all_kind = np.concatenate((kind, s_kind)).astype(np.int8)
    all_ts = np.concatenate((ts, s_ts)).astype(np.int64)
    all_influencer = np.concatenate((np.full(user.shape[0], -1, np.int32), s_influencer))
    # Stable sort (organic rows first among equals), then drop repeated (user, item, kind, ts).
    order = np.lexsort((all_kind, all_item, all_user, all_ts))
    all_user, all_item, all_kind = all_user[order], all_item[order], all_kind[order]
    all_ts, all_influencer = all_ts[order], all_influencer[order]
    repeat_row = np.zeros(order.shape[0], dtype=bool)
    repeat_row[1:] = (
        (all_ts[1:] == all_ts[:-1])
        & (all_user[1:] == all_user[:-1])
        & (all_item[1:] == all_item[:-1])
        & (all_kind[1:] == all_kind[:-1])
    )
    keep = ~repeat_row
    world = World(
        config=cfg,
        user_community=community,
        user_region=region,
        user_signup_ts=signup,
        kol_users=kols,
        kol_niche=kol_niche,
        item_community=home,
        item_category=category,
        item_appeal_rank=appeal,
        item_price=price,
        item_in_stock=in_stock,
        community_categories=preferred,
        community_category_weights=weights,
        friend_a=friend_a,
        friend_b=friend_b,
        follow_src=follow_src,
        follow_dst=follow_dst,
        attention_degree=attention_degree,
        influence_prob=activation_probability(
            attention_degree, cfg.social_influence, cfg.social_conversion
        ),
        inter_user=all_user[keep],
        inter_item=all_item[keep],
        inter_kind=all_kind[keep],
        inter_ts=all_ts[keep],
        inter_influencer=all_influencer[keep],
    )
    world.stats = world_stats(world)
    return world


# -- measurements ---------------------------------------------------------------------------


def attended_purchase_share(world: World) -> float:
    """Share of purchases whose item an account the buyer attends to bought strictly earlier.

    Returns 0.0 for a world without purchases.
    """
    buys = np.flatnonzero(world.purchase_mask)
    if buys.shape[0] == 0:
        return 0.0
    n, num_items = world.num_users, world.num_items
    buyer = world.inter_user[buys].astype(np.int64)
    thing = world.inter_item[buys].astype(np.int64)
    when = world.inter_ts[buys]
    # Earliest purchase time per (user, item).
    key = buyer * num_items + thing
    order = np.lexsort((when, key))
    first = order[np.concatenate(([True], key[order][1:] != key[order][:-1]))]
    first_key, first_ts = key[first], when[first]
    # Accounts each buyer attends to.
    viewer = np.concatenate((world.friend_a, world.friend_b, world.follow_src))
    viewed = np.concatenate((world.friend_b, world.friend_a, world.follow_dst))
    att_order, att_start, att_count = _segments(viewer, n)
    att = viewed[att_order]
    hit = np.zeros(buys.shape[0], dtype=bool)
    step = max(1, _CHUNK // max(1, int(att_count.mean() + 1)))
    for lo in range(0, buys.shape[0], step):
        b = buyer[lo : lo + step]
        owner, slot = _expand(att_start[b], att_count[b])
        probe = att[slot] * num_items + thing[lo : lo + step][owner]
        pos = np.minimum(np.searchsorted(first_key, probe), first_key.shape[0] - 1)
        earlier = (first_key[pos] == probe) & (first_ts[pos] < when[lo : lo + step][owner])
        hit[lo : lo + step] = np.bincount(owner, weights=earlier, minlength=b.shape[0]) > 0
    return float(hit.mean())


def within_community_friend_share(world: World) -> float:
    """Share of mutual friendships whose two users share a community (0.0 when none)."""
    if world.friend_a.shape[0] == 0:
        return 0.0
    same = world.user_community[world.friend_a] == world.user_community[world.friend_b]
    return float(same.mean())


def world_stats(world: World) -> dict[str, Any]:
    """Summary figures of ``world`` (also written to ``ground_truth.json``)."""
    cfg = world.config
    kinds = np.bincount(world.inter_kind, minlength=len(INTERACTION_KINDS))
    purchases = int(world.purchase_mask.sum())
    induced = int(world.induced_mask.sum())
    followers = world.follower_counts()
    shares = np.bincount(world.user_community, minlength=cfg.num_communities) / world.num_users
    return {
        "users": world.num_users,
        "items": world.num_items,
        "friendships": int(world.friend_a.shape[0]),
        "follows": int(world.follow_src.shape[0]),
        "interactions": int(world.inter_kind.shape[0]),
        "interactions_by_kind": {
            INTERACTION_KINDS[k]: int(kinds[k]) for k in range(len(INTERACTION_KINDS))
        },
        "purchases": purchases,
        "induced_purchases": induced,
        "social_share": induced / purchases if purchases else 0.0,
        "within_community_friend_share": within_community_friend_share(world),
        "expected_within_community_friend_share": float(
            cfg.homophily + (1 - cfg.homophily) * np.sum(shares**2)
        ),
        "median_followers": float(np.median(followers)),
        "max_followers": int(followers.max()) if followers.shape[0] else 0,
        "mean_attention_degree": float(world.attention_degree.mean()),
    }


# -- writing ------------------------------------------------------------------------------------

_HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "users": ("user_id", "region", "signup_ts"),
    "items": ("item_id", "category", "price", "in_stock"),
    "friendships": ("user_id", "friend_id", "kind"),
    "interactions": ("user_id", "item_id", "kind", "value", "ts"),
}

#: Rows of a table slice ``[lo, hi)`` as CSV lines. Generated ids, names and numbers never
#: need CSV quoting, so lines are formatted directly (about twice as fast as ``csv.writer``).
_Lines = Callable[[int, int], Iterator[str]]


def _table_lines(world: World) -> dict[str, tuple[int, _Lines]]:
    """Per table: (row count, function giving the CSV lines of a slice [lo, hi))."""
    uids, iids = world.user_ids, world.item_ids
    regions, categories = world.region_names, world.category_names
    kinds = INTERACTION_KINDS
    num_friends = int(world.friend_a.shape[0])
    social_a = np.concatenate((world.friend_a, world.follow_src))
    social_b = np.concatenate((world.friend_b, world.follow_dst))

    def users(lo: int, hi: int) -> Iterator[str]:
        region = world.user_region[lo:hi].tolist()
        signup = world.user_signup_ts[lo:hi].tolist()
        for uid, r, ts in zip(uids[lo:hi], region, signup, strict=True):
            yield f"{uid},{regions[r]},{ts}\n"

    def items(lo: int, hi: int) -> Iterator[str]:
        category = world.item_category[lo:hi].tolist()
        price = world.item_price[lo:hi].tolist()
        stock = world.item_in_stock[lo:hi].tolist()
        for iid, c, pr, st in zip(iids[lo:hi], category, price, stock, strict=True):
            yield f"{iid},{categories[c]},{pr:.2f},{'true' if st else 'false'}\n"

    def friendships(lo: int, hi: int) -> Iterator[str]:
        pairs = zip(social_a[lo:hi].tolist(), social_b[lo:hi].tolist(), strict=True)
        for j, (a, b) in enumerate(pairs, start=lo):
            yield f"{uids[a]},{uids[b]},{'friend' if j < num_friends else 'follow'}\n"

    def interactions(lo: int, hi: int) -> Iterator[str]:
        rows = zip(
            world.inter_user[lo:hi].tolist(),
            world.inter_item[lo:hi].tolist(),
            world.inter_kind[lo:hi].tolist(),
            world.inter_ts[lo:hi].tolist(),
            strict=True,
        )
        for u, i, k, ts in rows:
            yield f"{uids[u]},{iids[i]},{kinds[k]},1,{ts}\n"

    return {
        "users": (world.num_users, users),
        "items": (world.num_items, items),
        "friendships": (int(social_a.shape[0]), friendships),
        "interactions": (int(world.inter_kind.shape[0]), interactions),
    }


def _bad_row(
    reason: str,
    table: str,
    number: int,
    rng: np.random.Generator,
    world: World,
    rows: dict[str, tuple[int, _Lines]],
) -> tuple[int, Sequence[object]]:
    """One corrupt row for ``table`` and the clean row index it is inserted before."""
    count, make = rows[table]
    at = int(rng.integers(0, count + 1))
    uids, iids = world.user_ids, world.item_ids
    user = uids[int(rng.integers(world.num_users))]
    other = uids[int(rng.integers(world.num_users))]
    item = iids[int(rng.integers(world.num_items))]
    ts = world.config.start_ts + int(rng.integers(world.config.duration_s))
    ghost = f"ghost-{number}"
    if reason == "duplicate":
        source = int(rng.integers(count))
        line = next(make(source, source + 1))
        return int(rng.integers(source + 1, count + 1)), line.rstrip("\n").split(",")
    if reason == "negative_price":
        price = f"-{rng.uniform(0.01, 100):.2f}"
        return at, (f"bad-item-{number}", world.category_names[0], price, "true")
    if reason == "self_friendship":
        return at, (user, user, "friend" if number % 2 else "follow")
    if reason == "unknown_user":
        if table == "friendships":
            return at, (user, ghost, "friend")
        return at, (ghost, item, "view", "1", ts)
    if reason == "unknown_kind":
        if table == "friendships":
            return at, (user, other, "block")
        return at, (user, item, "wishlist", "1", ts)
    # bad_timestamp: unparseable, negative or absurdly far in the future.
    bad_ts = ("not-a-time", "-60", str(_FAR_FUTURE_TS))[int(rng.integers(3))]
    if table == "users":
        return at, (f"late-user-{number}", world.region_names[0], bad_ts)
    return at, (user, item, "purchase", "1", bad_ts)


def _write_table(
    path: Path,
    header: Sequence[str],
    count: int,
    make: _Lines,
    inserts: list[tuple[int, Sequence[object]]],
    progress: Callable[[int], None] | None,
) -> None:
    """Write ``count`` clean rows with each insert placed before the clean row of its index."""
    inserts = sorted(inserts, key=lambda pair: pair[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        lo, j = 0, 0
        while lo < count or j < len(inserts):
            while j < len(inserts) and inserts[j][0] <= lo:
                writer.writerow(inserts[j][1])
                j += 1
            if lo >= count:
                continue
            hi = min(count, lo + _CHUNK // 8)
            if j < len(inserts):
                hi = min(hi, max(inserts[j][0], lo + 1))
            handle.writelines(make(lo, hi))
            if progress is not None:
                progress(hi - lo)
            lo = hi


def _corruption_plan(total: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(reason, table) of each of ``total`` bad rows, reasons spread evenly."""
    reasons = list(CORRUPTION_TABLES)
    plan = []
    for j in range(total):
        reason = reasons[j % len(reasons)]
        tables = CORRUPTION_TABLES[reason]
        plan.append((reason, tables[int(rng.integers(len(tables)))]))
    return plan


def write_world(
    world: World,
    directory: str | os.PathLike[str],
    *,
    corrupt_fraction: float = 0.0,
    seed: int | None = None,
    progress: GenerateProgress | None = None,
) -> WorldFiles:
    """Write ``world`` as an input directory (see :mod:`graph.readers`) plus ground truth.

    Files: ``users.csv``, ``items.csv``, ``friendships.csv``, ``interactions.csv``;
    ``ground_truth.json`` (config, stats, KOL ids, communities, influence model, corruption
    counts); ``ground_truth_users.csv`` (community, KOL flag, followers, attention degree,
    activation probability per user); ``ground_truth_items.csv`` (home community, appeal rank);
    ``ground_truth_purchases.csv`` (every purchase with its influencer, empty when organic).

    Args:
        world: The world to write.
        directory: Output directory (created; existing files of the same names are replaced).
        corrupt_fraction: Bad rows to inject, as a fraction of the clean table rows, in [0, 0.5].
            Reasons (unknown users and kinds, negative prices, bad timestamps, self-friendships,
            exact duplicates) are spread evenly; each bad row is rejected by
            :mod:`graph.validate` for exactly one reason, and the counts per reason and per
            table are in ``ground_truth.json`` under ``corruption``.
        seed: Seed for placing bad rows (default: the world's seed).
        progress: Called with (table, rows written).

    Raises:
        ValueError: if ``corrupt_fraction`` is outside [0, 0.5].
    """
    if not (isinstance(corrupt_fraction, int | float) and 0 <= corrupt_fraction <= 0.5):
        raise ValueError(f"corrupt_fraction must be in [0, 0.5], got {corrupt_fraction!r}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([world.config.seed if seed is None else seed, 0xC0DE])
    rows = _table_lines(world)
    clean = {table: count for table, (count, _) in rows.items()}
    bad_total = round(corrupt_fraction * sum(clean.values()))
    inserts: dict[str, list[tuple[int, Sequence[object]]]] = {t: [] for t in rows}
    by_reason = dict.fromkeys(CORRUPTION_TABLES, 0)
    by_table = dict.fromkeys(rows, 0)
    for number, (reason, table) in enumerate(_corruption_plan(bad_total, rng)):
        if clean[table] == 0 and reason == "duplicate":
            continue
        inserts[table].append(_bad_row(reason, table, number, rng, world, rows))
        by_reason[reason] += 1
        by_table[table] += 1

    paths: dict[str, Path] = {}
    for table, (count, make) in rows.items():
        paths[table] = root / f"{table}.csv"

        def advance(done: int, table: str = table) -> None:
            if progress is not None:
                progress(table, done)

        _write_table(paths[table], _HEADERS[table], count, make, inserts[table], advance)
    _write_truth_tables(world, root)
    truth = root / "ground_truth.json"
    truth.write_text(
        json.dumps(_ground_truth(world, by_reason, by_table, clean), indent=2, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    return WorldFiles(root, paths, truth, clean, by_reason, by_table)


def _write_truth_tables(world: World, root: Path) -> None:
    uids, iids = world.user_ids, world.item_ids
    is_kol = np.zeros(world.num_users, dtype=bool)
    is_kol[world.kol_users] = True
    followers = world.follower_counts()
    with (root / "ground_truth_users.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            ("user_id", "community", "is_kol", "followers", "attention_degree", "influence_prob")
        )
        writer.writerows(
            zip(
                uids,
                world.user_community.tolist(),
                (int(k) for k in is_kol.tolist()),
                followers.tolist(),
                world.attention_degree.tolist(),
                (f"{p:.6g}" for p in world.influence_prob.tolist()),
                strict=True,
            )
        )
    with (root / "ground_truth_items.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("item_id", "community", "appeal_rank"))
        writer.writerows(
            zip(iids, world.item_community.tolist(), world.item_appeal_rank.tolist(), strict=True)
        )
    buys = np.flatnonzero(world.purchase_mask)
    with (root / "ground_truth_purchases.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("user_id", "item_id", "ts", "influencer_id"))
        writer.writerows(
            zip(
                map(uids.__getitem__, world.inter_user[buys].tolist()),
                map(iids.__getitem__, world.inter_item[buys].tolist()),
                world.inter_ts[buys].tolist(),
                (uids[p] if p >= 0 else "" for p in world.inter_influencer[buys].tolist()),
                strict=True,
            )
        )


def _ground_truth(
    world: World,
    by_reason: dict[str, int],
    by_table: dict[str, int],
    clean: dict[str, int],
) -> dict[str, Any]:
    cfg = world.config
    followers = world.follower_counts()
    sizes = np.bincount(world.user_community, minlength=cfg.num_communities)
    kol_order = world.kol_users[np.argsort(-followers[world.kol_users], kind="stable")]
    niche_of = dict(zip(world.kol_users.tolist(), world.kol_niche.tolist(), strict=True))
    return {
        "config": asdict(cfg),
        "stats": {**world.stats, "attended_purchase_share": attended_purchase_share(world)},
        "kols": [
            {
                "user_id": world.user_ids[k],
                "followers": int(followers[k]),
                "niche": world.category_names[niche_of[k]],
            }
            for k in kol_order.tolist()
        ],
        "communities": [
            {
                "community": k,
                "users": int(sizes[k]),
                "preferred_categories": [
                    world.category_names[c] for c in world.community_categories[k].tolist()
                ],
                "category_weights": [
                    round(w, 4) for w in world.community_category_weights[k].tolist()
                ],
            }
            for k in range(cfg.num_communities)
        ],
        "influence_model": {
            "kind": "independent cascade on purchases",
            "edge": "a user attends to friends and to accounts it follows; influence flows "
            "from the attended account to the user (snapshot edge src -> dst: dst "
            "influences src)",
            "activation_probability": "social_conversion * min(1, social_influence / "
            "(social_conversion * attention_degree(receiver)))",
            "social_influence": cfg.social_influence,
            "social_conversion": cfg.social_conversion,
            "per_user_file": "ground_truth_users.csv",
        },
        "clean_rows": clean,
        "corruption": {
            "total": sum(by_reason.values()),
            "by_reason": by_reason,
            "by_table": by_table,
        },
    }
