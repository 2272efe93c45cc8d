"""The GraphStore contract, run against every backend in ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.schema import UNKNOWN_TS, Friendship, Interaction, Item, User
from graph.snapshot import build_snapshot
from graph.store import GraphStore, StoreCounts

_Row = TypeVar("_Row")

USERS = [User("u3", "eu", 10), User("u1"), User("u2", "us"), User("u10", None, 5)]
ITEMS = [Item("i2", "shoes", 9.5), Item("i1", None, None, False), Item("i3", "hats", 0.0)]
FRIENDSHIPS = [
    Friendship("u2", "u1", "friend"),  # stored canonically as (u1, u2)
    Friendship("u1", "u3", "follow"),
    Friendship("u3", "u1", "follow"),
    Friendship("u10", "u3", "friend"),
]
INTERACTIONS = [
    Interaction("u1", "i1", "view", 1.0, 100),
    Interaction("u1", "i1", "view", 2.0, 50),
    Interaction("u1", "i1", "purchase", 1.0, 100),
    Interaction("u2", "i3", "rating", 4.5, UNKNOWN_TS),
    Interaction("u3", "i2", "cart", 1.0, 7),
    Interaction("u10", "i2", "click", 3.0, 8),
]


def fill(store: GraphStore) -> None:
    assert store.upsert_users(USERS) == len(USERS)
    assert store.upsert_items(ITEMS) == len(ITEMS)
    assert store.upsert_friendships(FRIENDSHIPS) == len(FRIENDSHIPS)
    assert store.upsert_interactions(INTERACTIONS) == len(INTERACTIONS)


def flat(pages: Iterator[list[_Row]] | Iterable[list[_Row]]) -> list[_Row]:
    return [row for page in pages for row in page]


def test_empty_store(store: GraphStore) -> None:
    assert isinstance(store, GraphStore)
    assert store.counts() == StoreCounts(0, 0, 0, 0)
    assert flat(store.iter_users()) == []
    assert flat(store.iter_interactions(batch_size=1)) == []
    assert store.existing_user_ids(["u1"]) == set()
    assert store.delete_user("u1") is False


def test_upserts_are_idempotent(store: GraphStore) -> None:
    fill(store)
    fill(store)
    assert store.counts() == StoreCounts(users=4, items=3, friendships=4, interactions=6)


def test_upsert_updates_attributes(store: GraphStore) -> None:
    fill(store)
    store.upsert_users([User("u1", "apac", 42)])
    store.upsert_items([Item("i1", "bags", 3.0, True)])
    store.upsert_interactions([Interaction("u1", "i1", "view", 7.0, 100)])
    assert flat(store.iter_users())[0] == User("u1", "apac", 42)  # order: u1, u10, u2, u3
    assert flat(store.iter_items())[0] == Item("i1", "bags", 3.0, True)
    assert Interaction("u1", "i1", "view", 7.0, 100) in flat(store.iter_interactions())
    assert store.counts().interactions == 6


def test_friendships_are_canonical(store: GraphStore) -> None:
    fill(store)
    store.upsert_friendships([Friendship("u1", "u2", "friend"), Friendship("u2", "u1")])
    assert flat(store.iter_friendships()) == [
        Friendship("u1", "u2", "friend"),
        Friendship("u1", "u3", "follow"),
        Friendship("u10", "u3", "friend"),
        Friendship("u3", "u1", "follow"),
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 10_000])
def test_iter_order_and_paging(store: GraphStore, batch_size: int) -> None:
    fill(store)
    pages = list(store.iter_users(batch_size=batch_size))
    assert all(0 < len(p) <= batch_size for p in pages)
    assert [u.user_id for u in flat(pages)] == ["u1", "u10", "u2", "u3"]
    assert flat(store.iter_users(batch_size=batch_size))[3] == User("u3", "eu", 10)
    assert [i.item_id for i in flat(store.iter_items(batch_size))] == ["i1", "i2", "i3"]
    assert flat(store.iter_items(batch_size))[0] == Item("i1", None, None, False)
    assert len(flat(store.iter_friendships(batch_size))) == 4
    assert flat(store.iter_interactions(batch_size)) == [
        Interaction("u1", "i1", "purchase", 1.0, 100),
        Interaction("u1", "i1", "view", 2.0, 50),
        Interaction("u1", "i1", "view", 1.0, 100),
        Interaction("u10", "i2", "click", 3.0, 8),
        Interaction("u2", "i3", "rating", 4.5, UNKNOWN_TS),
        Interaction("u3", "i2", "cart", 1.0, 7),
    ]


def test_iter_rejects_bad_batch_size(store: GraphStore) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        next(store.iter_users(batch_size=0))


def test_existing_ids(store: GraphStore) -> None:
    fill(store)
    assert store.existing_user_ids(["u1", "nobody", "u3", "u1"]) == {"u1", "u3"}
    assert store.existing_item_ids(iter(["i3", "i9"])) == {"i3"}
    many = [f"x{n}" for n in range(2500)] + ["u2"]
    assert store.existing_user_ids(many) == {"u2"}


def test_delete_user_removes_edges_on_both_sides(store: GraphStore) -> None:
    fill(store)
    assert store.delete_user("u1") is True
    assert store.delete_user("u1") is False
    assert store.counts() == StoreCounts(users=3, items=3, friendships=1, interactions=3)
    assert flat(store.iter_friendships()) == [Friendship("u10", "u3", "friend")]
    assert all(r.user_id != "u1" for r in flat(store.iter_interactions()))
    assert store.existing_user_ids(["u1"]) == set()


def test_export_equals_snapshot_built_from_the_rows(store: GraphStore, tmp_path: Path) -> None:
    fill(store)
    exported = export_snapshot(store, tmp_path / "snap", batch_size=2)
    expected = build_snapshot(USERS, ITEMS, FRIENDSHIPS_CANONICAL, INTERACTIONS, source="x")
    assert exported.fingerprint == expected.fingerprint
    assert exported.meta["source"] == store.kind
    assert exported.user_ids == ["u1", "u10", "u2", "u3"]
    # friend u1-u2 both ways, follows u1->u3 and u3->u1, friend u10-u3 both ways.
    assert exported.meta["counts"]["social_edges"] == 6
    # Sorted by (user, item, kind code, ts): view (0) before purchase (3).
    np.testing.assert_array_equal(exported.inter_ts, [50, 100, 100, 8, UNKNOWN_TS, 7])


FRIENDSHIPS_CANONICAL = [
    Friendship("u1", "u2", "friend"),
    Friendship("u1", "u3", "follow"),
    Friendship("u3", "u1", "follow"),
    Friendship("u10", "u3", "friend"),
]
