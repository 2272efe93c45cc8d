"""The marketing user portrait behind ``GET /users/{id}/profile``, and segment membership.

Definitions (all from the served graph; the clock is the latest interaction time of the
snapshot, so an old dataset is not "churned" just because it is old):

* **top categories**: share of the user's interactions per item category (top 5).
* **price sensitivity**: median over the user's priced items of ``price / median price of the
  item's category`` in the catalogue; ``value`` below 0.85, ``premium`` above 1.15, else
  ``mainstream`` (``unknown`` without priced items).
* **activity segment** by recency: ``new`` (no interactions, or the first one less than
  ``NEW_DAYS`` ago), ``active`` (last one at most ``ACTIVE_DAYS`` ago), ``dormant`` (at most
  ``DORMANT_DAYS``), ``churned`` (older); ``unknown`` when the data has no timestamps.
* **value tier** (RFM): the mean of the user's percentile ranks among snapshot users for
  recency (more recent = higher), frequency (interactions) and monetary value (sum of prices of
  purchases); ``high`` from 2/3, ``mid`` from 1/3, else ``low``. Without timestamps recency
  is left out.
* **social**: mutual friends, accounts followed, followers, and ``influence_score``: the share
  of users whose audience (users who see them) is smaller than this user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from graph.schema import INTERACTION_KINDS, UNKNOWN_TS
from serving.live import History, LiveGraph
from serving.recommender import UnknownUserError

DAY_S: Final[int] = 86_400
NEW_DAYS: Final[int] = 30
ACTIVE_DAYS: Final[int] = 30
DORMANT_DAYS: Final[int] = 90
PURCHASE: Final[int] = INTERACTION_KINDS.index("purchase")

ActivitySegment = Literal["new", "active", "dormant", "churned", "unknown"]
ValueTier = Literal["high", "mid", "low"]
PriceLabel = Literal["value", "mainstream", "premium", "unknown"]
ACTIVITY_SEGMENTS: Final[tuple[str, ...]] = ("new", "active", "dormant", "churned", "unknown")
VALUE_TIERS: Final[tuple[str, ...]] = ("high", "mid", "low")


@dataclass(frozen=True, slots=True)
class CategoryShare:
    category: str
    share: float


@dataclass(frozen=True, slots=True)
class SocialStats:
    friends: int
    following: int
    followers: int
    influence_score: float


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    interactions: int
    top_categories: list[CategoryShare]
    price_ratio: float | None
    price_sensitivity: PriceLabel
    activity_segment: ActivitySegment
    days_since_last: float | None
    value_tier: ValueTier
    rfm_score: float
    social: SocialStats


def activity_segment(first_ts: int, last_ts: int, count: int, now: int) -> ActivitySegment:
    """The recency segment of one user (see the module docstring); times in epoch seconds,
    ``UNKNOWN_TS`` when unknown."""
    if count == 0:
        return "new"
    if last_ts == UNKNOWN_TS or now == UNKNOWN_TS:
        return "unknown"
    if first_ts != UNKNOWN_TS and now - first_ts < NEW_DAYS * DAY_S:
        return "new"
    idle_days = (now - last_ts) / DAY_S
    if idle_days <= ACTIVE_DAYS:
        return "active"
    if idle_days <= DORMANT_DAYS:
        return "dormant"
    return "churned"


def value_tier(score: float) -> ValueTier:
    """``high`` for an RFM score >= 2/3, ``mid`` >= 1/3, else ``low``."""
    if score >= 2 / 3:
        return "high"
    if score >= 1 / 3:
        return "mid"
    return "low"


def price_label(ratio: float | None) -> PriceLabel:
    if ratio is None:
        return "unknown"
    if ratio < 0.85:
        return "value"
    if ratio > 1.15:
        return "premium"
    return "mainstream"


def _percentiles(
    population: NDArray[np.float64], values: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Share of ``population`` below each of ``values``, ties counted half (0.5 if empty)."""
    if population.size == 0:
        return np.full(values.shape, 0.5)
    ordered = np.sort(population)
    below = np.searchsorted(ordered, values, side="left")
    upto = np.searchsorted(ordered, values, side="right")
    return (below + 0.5 * (upto - below)) / population.size


def percentile(population: NDArray[np.float64], value: float) -> float:
    """Share of ``population`` below ``value``, ties counted half (0.5 if it is empty)."""
    return float(_percentiles(population, np.array([value], dtype=np.float64))[0])


class ProfileService:
    """Profiles and segments over a :class:`LiveGraph` (population statistics from its
    snapshot, computed once on first use)."""

    def __init__(self, live: LiveGraph) -> None:
        self.live = live

    @cached_property
    def now(self) -> int:
        """The data clock: latest known interaction time of the snapshot (or ``UNKNOWN_TS``)."""
        ts = self.live.snapshot.inter_ts
        return int(ts.max()) if ts.size else UNKNOWN_TS

    @cached_property
    def _category_median(self) -> NDArray[np.float64]:
        snap = self.live.snapshot
        medians = np.full(len(snap.categories), np.nan)
        for code in range(len(snap.categories)):
            prices = snap.item_price[(snap.item_category == code) & ~np.isnan(snap.item_price)]
            if prices.size:
                medians[code] = float(np.median(prices))
        return medians

    @cached_property
    def _population(self) -> dict[str, NDArray[np.float64]]:
        """Per snapshot user: first/last ts, frequency, monetary, audience."""
        snap = self.live.snapshot
        n = snap.num_users
        users = snap.inter_user
        known = snap.inter_ts != UNKNOWN_TS
        last = np.full(n, UNKNOWN_TS, dtype=np.float64)
        np.maximum.at(last, users[known], snap.inter_ts[known])
        frequency = np.bincount(users, minlength=n).astype(np.float64)
        prices = np.nan_to_num(snap.item_price[snap.inter_item].astype(np.float64), nan=0.0)
        bought = snap.inter_kind == PURCHASE
        monetary = np.bincount(users[bought], weights=prices[bought], minlength=n).astype(
            np.float64
        )
        audience = np.bincount(snap.social_dst, minlength=n).astype(np.float64)
        return {"last": last, "frequency": frequency, "monetary": monetary, "audience": audience}

    def _rfm(self, history: History) -> float:
        pop = self._population
        prices = np.nan_to_num(
            self.live.snapshot.item_price[history.items].astype(np.float64), nan=0.0
        )
        monetary = float(prices[history.kinds == PURCHASE].sum())
        parts = [
            percentile(pop["frequency"], float(len(history))),
            percentile(pop["monetary"], monetary),
        ]
        if self.now != UNKNOWN_TS:
            last = float(history.ts.max()) if len(history) else float(UNKNOWN_TS)
            parts.append(percentile(pop["last"], last))
        return float(np.mean(parts))

    def profile(self, user_id: str) -> Profile:
        """The portrait of a served user.

        Raises:
            UnknownUserError: if ``user_id`` is not served.
        """
        live = self.live
        if not live.has_user(user_id):
            raise UnknownUserError(user_id)
        snap = live.snapshot
        history = live.history(user_id)
        codes = snap.item_category[history.items]
        codes = codes[codes >= 0]
        shares: list[CategoryShare] = []
        if codes.size:
            counts = np.bincount(codes, minlength=len(snap.categories))
            order = sorted(np.flatnonzero(counts).tolist(), key=lambda c: (-counts[c], c))
            shares = [
                CategoryShare(snap.categories[c], float(counts[c] / codes.size)) for c in order[:5]
            ]
        ratio = self._price_ratio(history)
        known_ts = history.ts[history.ts != UNKNOWN_TS]
        first = int(known_ts.min()) if known_ts.size else UNKNOWN_TS
        last = int(known_ts.max()) if known_ts.size else UNKNOWN_TS
        now = max(self.now, last)
        segment = activity_segment(first, last, len(history), now)
        since = (now - last) / DAY_S if last != UNKNOWN_TS and now != UNKNOWN_TS else None
        score = self._rfm(history)
        following = live.following(user_id)
        followers = live.followers(user_id)
        audience = float(len({n.user_id for n in followers}))
        return Profile(
            user_id=user_id,
            interactions=len(history),
            top_categories=shares,
            price_ratio=ratio,
            price_sensitivity=price_label(ratio),
            activity_segment=segment,
            days_since_last=since,
            value_tier=value_tier(score),
            rfm_score=score,
            social=SocialStats(
                friends=sum(n.kind == "friend" for n in following),
                following=sum(n.kind == "follow" for n in following),
                followers=sum(n.kind == "follow" for n in followers),
                influence_score=percentile(self._population["audience"], audience),
            ),
        )

    def _price_ratio(self, history: History) -> float | None:
        snap = self.live.snapshot
        prices = snap.item_price[history.items].astype(np.float64)
        codes = snap.item_category[history.items]
        ok = ~np.isnan(prices) & (codes >= 0)
        if not ok.any():
            return None
        medians = self._category_median[codes[ok]]
        valid = ~np.isnan(medians) & (medians > 0)
        if not valid.any():
            return None
        return float(np.median(prices[ok][valid] / medians[valid]))

    @cached_property
    def _snapshot_segments(self) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
        """Activity segment and value tier of every snapshot user as it is in the snapshot,
        vectorised (equal to :meth:`profile` for users without live changes)."""
        snap = self.live.snapshot
        pop = self._population
        known = snap.inter_ts != UNKNOWN_TS
        first = np.full(snap.num_users, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, snap.inter_user[known], snap.inter_ts[known])
        first[first == np.iinfo(np.int64).max] = UNKNOWN_TS
        last, count = pop["last"], pop["frequency"]
        now = self.now
        idle_days = (now - last) / DAY_S
        activity = np.select(
            [
                count == 0,
                (last == UNKNOWN_TS) | (now == UNKNOWN_TS),
                (first != UNKNOWN_TS) & (now - first < NEW_DAYS * DAY_S),
                idle_days <= ACTIVE_DAYS,
                idle_days <= DORMANT_DAYS,
            ],
            ["new", "unknown", "new", "active", "dormant"],
            "churned",
        )
        parts = [
            _percentiles(pop["frequency"], count),
            _percentiles(pop["monetary"], pop["monetary"]),
        ]
        if now != UNKNOWN_TS:
            parts.append(_percentiles(last, last))
        score = np.mean(parts, axis=0)
        tier = np.select([score >= 2 / 3, score >= 1 / 3], ["high", "mid"], "low")
        return activity, tier

    def segment_members(self, *, activity: str | None = None, tier: str | None = None) -> list[str]:
        """Served users in an activity segment and/or value tier (e.g. to target reach):
        snapshot users in snapshot order, then users registered since, in order.

        Raises:
            ValueError: if ``activity`` or ``tier`` is not a known segment name.
        """
        if activity is not None and activity not in ACTIVITY_SEGMENTS:
            raise ValueError(f"activity must be one of {ACTIVITY_SEGMENTS}, got {activity!r}")
        if tier is not None and tier not in VALUE_TIERS:
            raise ValueError(f"tier must be one of {VALUE_TIERS}, got {tier!r}")
        live = self.live
        activities, tiers = self._snapshot_segments
        match = np.ones(live.snapshot.num_users, dtype=bool)
        if activity is not None:
            match &= activities == activity
        if tier is not None:
            match &= tiers == tier
        changed = {row.user_id for row in live.live_interactions()}
        members = []
        snapshot_users = live.snapshot.user_ids
        for index, user_id in enumerate(snapshot_users):
            if user_id in changed or not match[index]:
                continue
            if live.has_user(user_id):
                members.append(user_id)
        others = [u for u in snapshot_users if u in changed]
        others += [u.user_id for u in live.new_users()]
        for user_id in others:
            if not live.has_user(user_id):
                continue
            p = self.profile(user_id)
            if activity is not None and p.activity_segment != activity:
                continue
            if tier is not None and p.value_tier != tier:
                continue
            members.append(user_id)
        return members
