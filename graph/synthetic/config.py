"""Configuration of a synthetic world: :class:`WorldConfig`, interaction codes, influence law."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from graph.schema import INTERACTION_KINDS

#: Progress hook: called with (stage, units just processed).
GenerateProgress = Callable[[str, int], None]

VIEW: Final[int] = INTERACTION_KINDS.index("view")
CLICK: Final[int] = INTERACTION_KINDS.index("click")
CART: Final[int] = INTERACTION_KINDS.index("cart")
PURCHASE: Final[int] = INTERACTION_KINDS.index("purchase")


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
