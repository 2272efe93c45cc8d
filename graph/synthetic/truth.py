"""Ground truth of a synthetic world: summary statistics and the ground-truth files."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from graph.schema import INTERACTION_KINDS
from graph.synthetic.arrays import CHUNK, expand, segments
from graph.synthetic.world import World


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
    att_order, att_start, att_count = segments(viewer, n)
    att = viewed[att_order]
    hit = np.zeros(buys.shape[0], dtype=bool)
    step = max(1, CHUNK // max(1, int(att_count.mean() + 1)))
    for lo in range(0, buys.shape[0], step):
        b = buyer[lo : lo + step]
        owner, slot = expand(att_start[b], att_count[b])
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


def write_truth_tables(world: World, root: Path) -> None:
    """Write ``ground_truth_users.csv``, ``ground_truth_items.csv`` and
    ``ground_truth_purchases.csv`` of ``world`` into ``root``."""
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


def ground_truth_record(
    world: World,
    by_reason: dict[str, int],
    by_table: dict[str, int],
    clean: dict[str, int],
) -> dict[str, Any]:
    """The content of ``ground_truth.json``: config, stats, KOLs, communities, influence model,
    clean row counts and injected bad rows (per reason and per table)."""
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
