"""Simulation of a synthetic world: :func:`generate_world` (users to social cascades).

The mechanics are described in :mod:`graph.synthetic`; random streams, draw order and
therefore every generated world are fixed by the seed.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.synthetic.arrays import (
    CHUNK,
    contains,
    delay,
    expand,
    row_choice,
    segments,
    sorted_unique,
    zipf_rank,
)
from graph.synthetic.config import (
    CART,
    CLICK,
    PURCHASE,
    VIEW,
    GenerateProgress,
    WorldConfig,
    activation_probability,
)
from graph.synthetic.truth import world_stats
from graph.synthetic.world import World

_REGION_FOCUS: Final[float] = 0.8
_TASTE_CONCENTRATION: Final[float] = 3.0
_COMMUNITY_CONCENTRATION: Final[float] = 4.0
_SOCIABILITY_SIGMA: Final[float] = 0.5
_SIGNUP_SPAN_S: Final[int] = 2 * 365 * 86_400
_CLICK_DELAY_S: Final[float] = 120.0
_CART_DELAY_S: Final[float] = 600.0
_PURCHASE_DELAY_S: Final[float] = 1800.0
_MAX_GENERATIONS: Final[int] = 200


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
    slot = row_choice(rng, np.cumsum(weights, axis=1)[home])
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
    members, starts, counts = segments(community.astype(np.int64), cfg.num_communities)
    same = rng.random(pairs) < cfg.homophily
    b = np.where(
        same,
        _community_pick(rng, community[a], members, starts, counts),
        rng.integers(n, size=pairs),
    )
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    key = sorted_unique(lo.astype(np.int64) * n + hi)
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
    members, starts, counts = segments(community.astype(np.int64), cfg.num_communities)
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
        niche = preferred[kol_home, row_choice(rng, np.cumsum(weights, axis=1)[kol_home])]
        order = np.argsort(niche, kind="stable")
        cum = np.cumsum(fame[order])
        niche_fame = np.bincount(niche[order], weights=fame[order], minlength=cfg.num_categories)
        niche_before = np.cumsum(niche_fame) - niche_fame
        at = np.flatnonzero(to_kol)
        liked = preferred[own[at], row_choice(rng, np.cumsum(weights, axis=1)[own[at]])]
        if cfg.kol_fan_loyalty > 0:
            cum_weights = np.cumsum(weights, axis=1)
            favourite = preferred[community, row_choice(rng, cum_weights[community])]
            loyal = rng.random(at.shape[0]) < cfg.kol_fan_loyalty
            liked = np.where(loyal, favourite[follower[at]], liked)
        by_niche = (rng.random(at.shape[0]) < cfg.kol_niche_share) & (niche_fame[liked] > 0)
        x = niche_before[liked] + rng.random(at.shape[0]) * niche_fame[liked]
        pick = np.minimum(np.searchsorted(cum, x, side="right"), kols.shape[0] - 1)
        target[at[by_niche]] = kols[order][pick[by_niche]]
    keep = follower != target
    follower, target = follower[keep], target[keep]
    key = sorted_unique(follower.astype(np.int64) * n + target)
    src, dst = key // n, key % n
    pair = np.minimum(src, dst) * n + np.maximum(src, dst)
    keep = ~contains(friend_key, pair)
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
    pool_order, pool_start, pool_size = segments(pool_key, k * c)
    pool_items = by_appeal[pool_order]
    cat_order, cat_start, cat_size = segments(item_category[by_appeal].astype(np.int64), c)
    cat_items = by_appeal[cat_order]

    users_all = np.repeat(np.arange(n, dtype=np.int64), per_user)
    out: list[tuple[Any, ...]] = []
    for lo in range(0, users_all.shape[0], CHUNK):
        user = users_all[lo : lo + CHUNK]
        size = user.shape[0]
        comm = community[user].astype(np.int64)
        category = preferred[comm, row_choice(rng, taste_cum[user])]
        focused = rng.random(size) < cfg.taste_focus
        in_pool = focused & (pool_size[comm * c + category] > 0)
        in_cat = focused & ~in_pool & (cat_size[category] > 0)
        pool = np.where(in_pool, comm * c + category, 0)
        span = np.where(in_pool, pool_size[pool], np.where(in_cat, cat_size[category], num_items))
        rank = zipf_rank(rng, span, cfg.popularity_exponent)
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
        click_ts = ts + delay(rng, _CLICK_DELAY_S, size)
        cart_ts = click_ts + delay(rng, _CART_DELAY_S, size)
        buy_ts = cart_ts + delay(rng, _PURCHASE_DELAY_S, size)
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
    active = sorted_unique(buyer * num_items + item)
    out: list[tuple[Any, ...]] = []
    for _ in range(_MAX_GENERATIONS):
        if buyer.shape[0] == 0 or s == 0:
            break
        parent_idx, slot = expand(audience_start[buyer], audience_count[buyer])
        parts: list[tuple[Any, Any]] = [(parent_idx[:0], slot[:0])]
        for lo in range(0, slot.shape[0], CHUNK):
            parent = parent_idx[lo : lo + CHUNK]
            viewer = audience[slot[lo : lo + CHUNK]]
            hit = rng.random(viewer.shape[0]) < expose_p[viewer]
            parent, viewer = parent[hit], viewer[hit]
            fresh = ~contains(active, viewer * num_items + item[parent])
            parts.append((parent[fresh], viewer[fresh]))
        parent = np.concatenate([p for p, _ in parts])
        viewer = np.concatenate([v for _, v in parts])
        thing = item[parent]
        size = viewer.shape[0]
        view_ts = when[parent] + delay(rng, float(cfg.influence_delay_s), size)
        click_ts = view_ts + delay(rng, _CLICK_DELAY_S, size)
        buy_ts = click_ts + delay(rng, _PURCHASE_DELAY_S, size)
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
        active = sorted_unique(np.concatenate((active, key[buys])))
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
    audience_order, audience_start, audience_count = segments(viewed, n)
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
