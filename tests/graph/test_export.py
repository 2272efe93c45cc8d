"""Export: a snapshot written from the store reads back identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import read_snapshot
from graph.sqlite_store import SQLiteStore


def test_export_round_trip_and_progress(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    store.upsert_users([User("b", "eu"), User("a")])
    store.upsert_items([Item("x", "hats", 2.5), Item("y", None, None, False)])
    store.upsert_friendships([Friendship("b", "a", "friend"), Friendship("a", "b", "follow")])
    store.upsert_interactions(
        [Interaction("b", "y", "view", 2.0, 5), Interaction("a", "x", "purchase", 1.0, 9)]
    )
    calls: list[tuple[str, int]] = []
    snapshot = export_snapshot(
        store, tmp_path / "snap", batch_size=1, progress=lambda t, n: calls.append((t, n))
    )
    store.close()
    assert sorted(calls) == sorted(
        [("users", 1)] * 2
        + [("items", 1)] * 2
        + [("friendships", 1)] * 2
        + [("interactions", 1)] * 2
    )
    loaded = read_snapshot(tmp_path / "snap")
    assert loaded.fingerprint == snapshot.fingerprint
    assert loaded.meta["source"] == "sqlite"
    assert loaded.user_ids == ["a", "b"]
    assert loaded.item_ids == ["x", "y"]
    np.testing.assert_array_equal(loaded.inter_user, [0, 1])
    np.testing.assert_array_equal(loaded.inter_item, [0, 1])
    # friend a-b both ways (code 0) and the follow a -> b (code 1)
    np.testing.assert_array_equal(
        np.stack([loaded.social_src, loaded.social_dst, loaded.social_kind]),
        [[0, 0, 1], [1, 1, 0], [0, 1, 0]],
    )
    np.testing.assert_array_equal(loaded.item_in_stock, [True, False])
    assert loaded.regions == ["eu"]


def test_export_rejects_bad_batch_size(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        export_snapshot(store, tmp_path / "snap", batch_size=0)
    store.close()
