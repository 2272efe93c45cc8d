"""Export: a snapshot written from the store reads back identically, and the numpy builder
gives what the tuple-sorting one it replaced gave (tests/graph/snapshot_reference.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.load import load_directory
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import _ARRAY_FIELDS as ARRAY_FIELDS
from graph.snapshot import Snapshot, build_snapshot, read_snapshot
from graph.sqlite_store import SQLiteStore
from graph.synthetic import WorldConfig, generate_world, write_world
from tests.graph.snapshot_reference import reference_snapshot


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


def _assert_same_snapshot(new: Snapshot, old: Snapshot) -> None:
    assert new.fingerprint == old.fingerprint
    assert (new.user_ids, new.item_ids) == (old.user_ids, old.item_ids)
    assert (new.categories, new.regions) == (old.categories, old.regions)
    for name in (*ARRAY_FIELDS, "user_private"):
        new_array, old_array = getattr(new, name), getattr(old, name)
        assert new_array.dtype == old_array.dtype, name
        np.testing.assert_array_equal(new_array, old_array, err_msg=name)
    assert new.meta["counts"] == old.meta["counts"]


def _reference_export(store: SQLiteStore) -> Snapshot:
    def flat(pages: Iterable[list[Any]]) -> list[Any]:
        return [row for page in pages for row in page]

    return reference_snapshot(
        flat(store.iter_users()),
        flat(store.iter_items()),
        flat(store.iter_friendships()),
        flat(store.iter_interactions()),
        source="sqlite",
    )


def test_the_numpy_builder_exports_what_the_tuple_sorting_one_did(tmp_path: Path) -> None:
    world = generate_world(WorldConfig(num_users=500, num_items=120, seed=11))
    write_world(world, tmp_path / "in", corrupt_fraction=0.05)
    store = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        load_directory(store, tmp_path / "in", tmp_path / "report", now=2_000_000_000)
        store.upsert_users([User("zz-private", None, 7, True), User("zz-empty-region", "")])
        store.upsert_items([Item("zz-free", "", None, False)])
        store.upsert_friendships([Friendship("zz-private", "u001", "follow")])
        store.upsert_interactions([Interaction("u001", "zz-free", "rating", 4.5)])
        exported = export_snapshot(store, tmp_path / "snap", batch_size=777)
        _assert_same_snapshot(exported, _reference_export(store))
    finally:
        store.close()
    rows = (world.iter_users(), world.iter_items(), world.iter_friendships())
    users, items, friendships = (list(r) for r in rows)
    interactions = list(world.iter_interactions())
    built = build_snapshot(users, items, friendships, interactions, source="world")
    _assert_same_snapshot(
        built, reference_snapshot(users, items, friendships, interactions, source="world")
    )
