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
from graph.snapshot import (
    Snapshot,
    SnapshotError,
    _interaction_order,
    build_snapshot,
    build_snapshot_from_coded,
    read_snapshot,
)
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


def test_an_edge_whose_user_is_not_stored_fails_the_export(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        store.upsert_users([User("a")])
        store.upsert_items([Item("x", None, None)])
        store.upsert_interactions([Interaction("ghost", "x", "view", 1.0, 5)])
        with pytest.raises(SnapshotError, match="interactions has rows with an id not in"):
            export_snapshot(store, tmp_path / "snap")
        assert not (tmp_path / "snap").exists()
        temp = "SELECT count(*) FROM sqlite_temp_master"
        assert store._conn.execute(temp).fetchone()[0] == 0  # the ranks are gone
        store.upsert_users([User("ghost")])
        assert export_snapshot(store, tmp_path / "snap").user_ids == ["a", "ghost"]
    finally:
        store.close()


def test_coded_users_out_of_id_order_are_refused() -> None:
    with pytest.raises(SnapshotError, match="users did not come in id order"):
        build_snapshot_from_coded(
            [[("b", None, 1, None), ("a", None, 1, None)]], [], [], [], source="test"
        )


@pytest.mark.parametrize("presorted", [False, True])
def test_the_interaction_order_is_lexsorts(presorted: bool) -> None:
    rng = np.random.default_rng(5)
    n = 2000
    user, item = rng.integers(0, 7, n), rng.integers(0, 5, n)
    kind, ts = rng.integers(0, 6, n), rng.integers(-1, 4, n)
    value = rng.choice([1.0, 2.5, np.nan, 0.5], n)
    if presorted:  # a store's key order: (user, item, kind, ts) unique and ascending
        keys = np.unique(np.stack([user, item, kind, ts], axis=1), axis=0)
        user, item, kind, ts = keys.T
        value = value[: len(user)]
    expected = np.lexsort((value, ts, kind, user * 5 + item))
    got = _interaction_order((user, item, kind, ts, value), 7, 5)
    np.testing.assert_array_equal(got, expected)
