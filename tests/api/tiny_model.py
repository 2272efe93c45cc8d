"""A tiny snapshot + checkpoint whose top-k lists are known by hand.

Item embeddings (dim 2): i1 (1, 0), i2 (0.8, 0), i3 (0.5, 0), i4 (0, 1), i5 (-1, 0).
u1 = (1, 0)   -> scores i1 1.0, i2 0.8, i3 0.5, i4 0.0, i5 -1.0; u1 saw i2.
u2 = (0.1, 1) -> scores i4 1.0, i1 0.1, i2 0.08, i3 0.05, i5 -0.1; u2 saw nothing.
u3 = (1, 1)   -> saw every item.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gnn.checkpoint import Checkpoint, save_checkpoint
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot, write_snapshot

USER_EMB = [[1.0, 0.0], [0.1, 1.0], [1.0, 1.0]]
ITEM_EMB = [[1.0, 0.0], [0.8, 0.0], [0.5, 0.0], [0.0, 1.0], [-1.0, 0.0]]


def tiny_snapshot() -> Snapshot:
    """Three users, five items; u1 saw i2 (twice), u3 saw every item; u1 and u2 are friends."""
    users = [User("u1"), User("u2"), User("u3")]
    items = [Item(f"i{n}") for n in range(1, 6)]
    interactions = [
        Interaction("u1", "i2", "purchase"),
        Interaction("u1", "i2", "view", ts=5),  # a repeat: still one seen item
    ] + [Interaction("u3", f"i{n}", "click") for n in range(1, 6)]
    friendships = [Friendship("u1", "u2")]
    return build_snapshot(users, items, friendships, interactions, source="test")


def tiny_checkpoint(snapshot: Snapshot) -> Checkpoint:
    """A LightGCN checkpoint for ``snapshot`` with the embeddings above."""
    return Checkpoint(
        model_name="lightgcn",
        model_config={"embedding_dim": 2, "num_layers": 1},
        train_config={},
        state_dict={},
        user_embeddings=torch.tensor(USER_EMB),
        item_embeddings=torch.tensor(ITEM_EMB),
        user_ids=list(snapshot.user_ids),
        item_ids=list(snapshot.item_ids),
        snapshot_fingerprint=snapshot.fingerprint,
    )


def write_tiny_artifacts(directory: Path) -> tuple[Path, Path]:
    """(snapshot_dir, checkpoint_path) of the tiny model, written under ``directory``."""
    snapshot = tiny_snapshot()
    snapshot_dir = write_snapshot(snapshot, directory / "snapshot")
    return snapshot_dir, save_checkpoint(tiny_checkpoint(snapshot), directory / "model.pt")
