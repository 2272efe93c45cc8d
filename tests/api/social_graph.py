"""A small social-commerce graph with known answers, in a real SQLite store, exported to a
snapshot, with a hand-written checkpoint.

Users: ``a`` is friends with ``b`` and ``c`` and follows ``d``; ``f`` (no interactions) is
friends with ``b`` and ``c``; ``e`` is a stranger; ``g`` has nothing at all.
Items (category, price): p1 shoes 50, p2 shoes 100, p3 shoes (no price), p4 bags 30,
p5 bags 300 (out of stock), p6 hats 20.
Interactions (ts = T0 + days): a p1 purchase 0; b p2 purchase 100, p4 view 50;
c p2 click 200, p5 purchase 10; d p2 view 300; e p6 purchase 5.
So for ``a`` and item p2 the friends are d (300), c (200), b (100), most recent first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import torch

from gnn.checkpoint import Checkpoint, save_checkpoint
from graph.export import export_snapshot
from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.snapshot import Snapshot
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from serving.settings import Settings

T0: Final[int] = 1_700_000_000
DAY: Final[int] = 86_400
API_KEY: Final[str] = "test-key-123"

USERS = [User(u, region="north" if u in "abcf" else "south") for u in "abcdefg"]
ITEMS = [
    Item("p1", "shoes", 50.0),
    Item("p2", "shoes", 100.0),
    Item("p3", "shoes", None),
    Item("p4", "bags", 30.0),
    Item("p5", "bags", 300.0, in_stock=False),
    Item("p6", "hats", 20.0),
]
FRIENDSHIPS = [
    Friendship("a", "b"),
    Friendship("a", "c"),
    Friendship("a", "d", "follow"),
    Friendship("f", "b"),
    Friendship("f", "c"),
]
INTERACTIONS = [
    Interaction("a", "p1", "purchase", ts=T0),
    Interaction("b", "p2", "purchase", ts=T0 + 100 * DAY),
    Interaction("b", "p4", "view", ts=T0 + 50 * DAY),
    Interaction("c", "p2", "click", ts=T0 + 200 * DAY),
    Interaction("c", "p5", "purchase", ts=T0 + 10 * DAY),
    Interaction("d", "p2", "view", ts=T0 + 300 * DAY),
    Interaction("e", "p6", "purchase", ts=T0 + 5 * DAY),
]
ITEM_EMB = {
    "p1": (1.0, 0.0),
    "p2": (0.9, 0.1),
    "p3": (0.8, 0.2),
    "p4": (0.2, 0.9),
    "p5": (0.0, 1.0),
    "p6": (-1.0, 0.0),
}
USER_EMB = {
    "a": (1.0, 0.1),
    "b": (0.5, 0.5),
    "c": (0.3, 0.8),
    "d": (0.9, 0.0),
    "e": (-1.0, 0.0),
    "f": (0.0, -1.0),  # untrained: f has no interactions
    "g": (0.0, -1.0),
}


def write_graph(store: GraphStore) -> None:
    """Write the graph into ``store`` (any store of the contract)."""
    store.upsert_users(USERS)
    store.upsert_items(ITEMS)
    store.upsert_friendships([canonical_friendship(f) for f in FRIENDSHIPS])
    store.upsert_interactions(INTERACTIONS)


def build_store(path: Path) -> None:
    """Write the graph into a SQLite store at ``path``."""
    store = SQLiteStore(path)
    try:
        write_graph(store)
    finally:
        store.close()


def export(store_path: Path, snapshot_dir: Path) -> Snapshot:
    store = SQLiteStore(store_path)
    try:
        return export_snapshot(store, snapshot_dir)
    finally:
        store.close()


def checkpoint_for(snapshot: Snapshot, sign: float = 1.0) -> Checkpoint:
    """The hand-written embeddings (times ``sign``) in the snapshot's id order."""
    return Checkpoint(
        model_name="lightgcn",
        model_config={"embedding_dim": 2, "num_layers": 1},
        train_config={},
        state_dict={},
        user_embeddings=sign * torch.tensor([USER_EMB[u] for u in snapshot.user_ids]),
        item_embeddings=torch.tensor([ITEM_EMB[i] for i in snapshot.item_ids]),
        user_ids=list(snapshot.user_ids),
        item_ids=list(snapshot.item_ids),
        snapshot_fingerprint=snapshot.fingerprint,
    )


def make_settings(work_dir: Path, **overrides: object) -> Settings:
    """Store, snapshot and checkpoint under ``work_dir``; settings pointing at them."""
    store_path = work_dir / "graph.sqlite3"
    build_store(store_path)
    snapshot = export(store_path, work_dir / "snapshot")
    save_checkpoint(checkpoint_for(snapshot), work_dir / "model.pt")
    base = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    values = {"work_dir": work_dir, "api_key": API_KEY, "max_k": 10} | overrides
    return base.with_overrides(**values)
