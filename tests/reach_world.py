"""The tiny reach world whose answers are known exactly (shared by the reach API and CLI tests).

Influence graph (followed -> follower, friends both ways): k1 -> f1, f2, f3; k2 -> f3, f4, f5;
f1 <-> f4 (friends); f6 -> f5 (f5 follows f6). 9 edges, so exact enumeration is cheap.
Purchases: k1 then f1 buy i1, k2 then f4 buy i2. The checkpoint puts i1 and i2 on the two axes
and the users at seeded random points.
"""

from __future__ import annotations

import torch

from gnn.checkpoint import Checkpoint
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot

USERS = ["f1", "f2", "f3", "f4", "f5", "f6", "k1", "k2"]
FOLLOWS = [("f1", "k1"), ("f2", "k1"), ("f3", "k1"), ("f3", "k2"), ("f4", "k2"), ("f5", "k2")]
FOLLOWS += [("f5", "f6")]


def world() -> Snapshot:
    """The snapshot: users, both items, the follows and the one friendship, four purchases."""
    friendships = [Friendship(a, b, "follow") for a, b in FOLLOWS] + [Friendship("f1", "f4")]
    interactions = [
        Interaction("k1", "i1", "purchase", ts=0),
        Interaction("f1", "i1", "purchase", ts=100),
        Interaction("k2", "i2", "purchase", ts=0),
        Interaction("f4", "i2", "purchase", ts=50),
    ]
    return build_snapshot(
        [User(u) for u in USERS], [Item("i1"), Item("i2")], friendships, interactions, source="t"
    )


def checkpoint(snapshot: Snapshot) -> Checkpoint:
    """A hand-made LightGCN checkpoint for ``snapshot`` (seeded user points, axis items)."""
    gen = torch.Generator().manual_seed(0)
    return Checkpoint(
        model_name="lightgcn",
        model_config={"embedding_dim": 2, "num_layers": 1},
        train_config={},
        state_dict={},
        user_embeddings=torch.randn(len(snapshot.user_ids), 2, generator=gen),
        item_embeddings=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        user_ids=list(snapshot.user_ids),
        item_ids=list(snapshot.item_ids),
        snapshot_fingerprint=snapshot.fingerprint,
    )
