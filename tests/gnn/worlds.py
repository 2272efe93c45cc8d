"""Planted worlds shared by the tests that train a model (tests/gnn, and the serving and CLI
tests of trained models): group structure a model must learn, and its config.

``planted_snapshot``: users buy mostly inside their own group of items (``PLANTED_CONFIG`` trains
LightGCN on it). ``social_snapshot``: users buy inside their group's items and their friends
are drawn inside the group (``SOCIAL_CONFIG``; the social model and distributed training).
``tune_snapshot``: a small synthetic world for hyperparameter search.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gnn.config import TrainConfig
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot
from graph.synthetic import WorldConfig, generate_world

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, ITEMS_PER_USER = 4, 30, 20, 8
PLANTED_CONFIG = TrainConfig(
    embedding_dim=16,
    num_layers=2,
    lr=0.05,
    batch_size=256,
    epochs=25,
    patience=25,
    seed=0,
    num_threads=1,
)

SOCIAL_GROUPS, SOCIAL_USERS_PER_GROUP, SOCIAL_ITEMS_PER_GROUP = 4, 20, 15
#: The social model with its contrastive term, trained on ``social_snapshot``.
SOCIAL_CONFIG = TrainConfig(
    model="social",
    ssl_weight=0.05,
    embedding_dim=16,
    num_layers=2,
    lr=0.05,
    batch_size=256,
    epochs=8,
    patience=8,
    seed=0,
    num_threads=1,
)


def planted_snapshot(seed: int = 0) -> Snapshot:
    """Users buy mostly inside their own group of items, plus one random item each."""
    rng = np.random.default_rng(seed)
    users = [User(f"u{n:03d}") for n in range(GROUPS * USERS_PER_GROUP)]
    items = [Item(f"i{n:03d}") for n in range(GROUPS * ITEMS_PER_GROUP)]
    rows = []
    for n, user in enumerate(users):
        group = n // USERS_PER_GROUP
        own = rng.choice(ITEMS_PER_GROUP, ITEMS_PER_USER, replace=False) + group * ITEMS_PER_GROUP
        noise = rng.integers(0, len(items))
        for i in [*own.tolist(), int(noise)]:
            rows.append(Interaction(user.user_id, items[i].item_id, "purchase"))
    return build_snapshot(users, items, [], rows, source="planted")


def social_snapshot(seed: int = 0) -> Snapshot:
    """Users buy inside their group's items; friends are drawn inside the group."""
    rng = np.random.default_rng(seed)
    per_group = SOCIAL_USERS_PER_GROUP
    users = [User(f"u{n:03d}") for n in range(SOCIAL_GROUPS * per_group)]
    items = [Item(f"i{n:03d}") for n in range(SOCIAL_GROUPS * SOCIAL_ITEMS_PER_GROUP)]
    rows, ties = [], set()
    for n, user in enumerate(users):
        group = n // per_group
        own = rng.choice(SOCIAL_ITEMS_PER_GROUP, 6, replace=False) + group * SOCIAL_ITEMS_PER_GROUP
        rows += [Interaction(user.user_id, items[int(i)].item_id, "purchase") for i in own]
        for m in rng.choice(per_group, 3, replace=False) + group * per_group:
            if m != n:
                ties.add((min(n, int(m)), max(n, int(m))))
    friends = [Friendship(users[a].user_id, users[b].user_id) for a, b in sorted(ties)]
    return build_snapshot(users, items, friends, rows, source="planted-social")


#: A model that cannot learn: its weights barely move from the random start.
FROZEN_CONFIG = replace(PLANTED_CONFIG, lr=1e-9, epochs=4, warmup_epochs=0, patience=1)


def skewed_snapshot(users: int = 120, items: int = 80, per_user: int = 8) -> Snapshot:
    """Users pick items from one Zipf-like popularity law: popularity is hard to beat."""
    rng = np.random.default_rng(0)
    weights = 1.0 / np.arange(1, items + 1)
    rows = [
        Interaction(f"u{u:03d}", f"i{i:03d}", "purchase")
        for u in range(users)
        for i in rng.choice(items, per_user, replace=False, p=weights / weights.sum())
    ]
    return build_snapshot(
        [User(f"u{u:03d}") for u in range(users)],
        [Item(f"i{i:03d}") for i in range(items)],
        [],
        rows,
        source="skewed",
    )


def tune_snapshot() -> Snapshot:
    """A 300-user synthetic world of six communities, small enough for many tuning trials."""
    world = WorldConfig(
        num_users=300, num_items=150, num_communities=6, num_categories=8,
        interactions_per_user=12, seed=1,
    )  # fmt: skip
    return generate_world(world).to_snapshot()
