"""A generated synthetic world (:class:`World`): numpy columns, ground truth, row iterators."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from graph.schema import INTERACTION_KINDS, Friendship, Interaction, InteractionKind, Item, User
from graph.snapshot import Snapshot, build_snapshot
from graph.synthetic.config import PURCHASE, WorldConfig


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
