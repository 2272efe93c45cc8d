"""The GraphStore contract, run against every backend of ``tests.store_backends``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.schema import UNKNOWN_TS, Friendship, Interaction, Item, User
from graph.snapshot import build_snapshot
from graph.sqlite_store import SQLiteStore
from graph.store import Change, ChangePage, GraphStore, StoreCounts, log_head

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


def test_an_upsert_with_a_field_absent_keeps_the_stored_value(store: GraphStore) -> None:
    fill(store)  # u3 is ("eu", 10); u2 is ("us", -1)
    store.upsert_users([User("u3"), User("u2", None, 77)])
    store.write_events([User("u3")], [])
    users = {u.user_id: u for u in flat(store.iter_users())}
    assert users["u3"] == User("u3", "eu", 10)
    assert users["u2"] == User("u2", "us", 77)
    store.upsert_users([User("u3", "mars", 11)])  # a given value replaces, any region
    assert User("u3", "mars", 11) in flat(store.iter_users())


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


def test_write_events_upserts_and_logs_one_write(store: GraphStore) -> None:
    fill(store)
    new_user = User("n1", "eu", 5)
    rows = (Interaction("n1", "i1", "click", 1.0, 200), Interaction("u1", "i2", "view", 2.0, 300))
    seq = store.write_events([new_user], rows)
    assert seq >= 1
    assert store.counts() == StoreCounts(users=5, items=3, friendships=4, interactions=8)
    assert new_user in flat(store.iter_users())
    assert set(rows) <= set(flat(store.iter_interactions()))
    assert store.changes_since(0) == ChangePage((Change(seq, (new_user,), rows),), seq, seq)
    assert store.changes_since(seq) == ChangePage((), seq, seq)


def test_a_write_sent_again_changes_and_logs_nothing(store: GraphStore) -> None:
    fill(store)
    row = Interaction("u2", "i1", "cart", 1.0, 9)
    first = store.write_events([User("n1", "eu")], [row, row])
    assert store.write_events([User("n1", "eu"), User("n1")], [row]) == 0
    assert store.write_events([User("u3", "eu", 10)], []) == 0  # as stored by fill()
    assert store.counts().interactions == len(INTERACTIONS) + 1
    assert store.changes_since(0).changes == (Change(first, (User("n1", "eu"),), (row,)),)
    changed = store.write_events([User("n1", "us")], [row, Interaction("u2", "i1", "cart", 2.0, 9)])
    assert changed > first
    assert store.changes_since(first).changes == (
        Change(changed, (User("n1", "us"),), (Interaction("u2", "i1", "cart", 2.0, 9),)),
    )


def test_an_empty_write_logs_nothing(store: GraphStore) -> None:
    assert store.write_events([], []) == 0
    assert store.changes_since(0) == ChangePage((), 0, 0)


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_changes_since_pages_through_writes_in_order(store: GraphStore, limit: int) -> None:
    fill(store)
    written = [
        Change(store.write_events([User(f"n{n}", None, n)], []), (User(f"n{n}", None, n),))
        for n in range(5)
    ]
    assert [c.seq for c in written] == sorted({c.seq for c in written})
    read: list[Change] = []
    after = 0
    while True:
        page = store.changes_since(after, limit)
        assert len(page.changes) <= limit
        assert page.head == written[-1].seq
        assert all(after < c.seq <= page.upto for c in page.changes)
        read += page.changes
        if after == page.upto:
            break
        after = page.upto
    assert read == written


def test_a_log_started_afresh_reads_as_head_below_the_watermark(store: GraphStore) -> None:
    fill(store)
    seq = store.write_events([], [Interaction("u3", "i3", "view", 1.0, 1)])
    page = store.changes_since(seq + 10)
    assert page == ChangePage((), seq, seq)
    assert page.head < seq + 10


def test_delete_user_purges_their_changes_and_logs_the_deletion(store: GraphStore) -> None:
    fill(store)
    mine = Interaction("u1", "i3", "view", 1.0, 11)
    theirs = Interaction("u2", "i2", "view", 1.0, 12)
    both = store.write_events([User("u1", "eu", 1)], [mine, theirs])
    store.write_events([], [mine])
    assert store.delete_user("u1") is True
    assert store.delete_user("ghost") is False  # absent: still logged, replicas may serve them
    page = store.changes_since(0)
    first, *deletions = page.changes
    assert first == Change(both, (), (theirs,))  # nothing of u1 is left; the u1-only write is gone
    assert [c.deleted_user for c in deletions] == ["u1", "ghost"]
    assert all(c == Change(c.seq, deleted_user=c.deleted_user) for c in deletions)  # ids only
    assert both < deletions[0].seq < deletions[1].seq == page.upto == page.head


def _another_handle(store: GraphStore, request: pytest.FixtureRequest) -> GraphStore:
    """A second connection to the same store (what another API process holds)."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    handle: GraphStore = request.getfixturevalue("bolt_target").open_store()
    return handle


def test_concurrent_writers_share_one_sequence(
    store: GraphStore, request: pytest.FixtureRequest
) -> None:
    fill(store)
    writers, writes = 3, 10

    def write(writer: int) -> list[Change]:
        handle = _another_handle(store, request)
        try:
            done = []
            for n in range(writes):
                row = Interaction(f"u{writer + 1}", "i1", "view", 1.0, 1000 * writer + n)
                done.append(Change(handle.write_events([], [row]), (), (row,)))
            return done
        finally:
            handle.close()

    with ThreadPoolExecutor(writers) as pool:
        written = [c for done in pool.map(write, range(writers)) for c in done]
    assert len({c.seq for c in written}) == writers * writes  # no number given out twice
    page = store.changes_since(0, limit=1000)
    assert list(page.changes) == sorted(written, key=lambda c: c.seq)
    assert page.head == max(c.seq for c in written)


def test_changes_since_rejects_bad_arguments(store: GraphStore) -> None:
    with pytest.raises(ValueError, match="after must be"):
        store.changes_since(-1)
    with pytest.raises(ValueError, match="limit must be"):
        store.changes_since(0, limit=0)


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


def test_a_sqlite_file_from_before_the_privacy_setting_gains_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, region TEXT, "
            "signup_ts INTEGER NOT NULL) WITHOUT ROWID"
        )
        old.execute("INSERT INTO users VALUES ('u1', 'eu', 5)")
    old.close()
    store = SQLiteStore(path)
    try:
        assert flat(store.iter_users()) == [User("u1", "eu", 5)]
        store.write_events([User("u1", private=True)], [])
        assert flat(store.iter_users()) == [User("u1", "eu", 5, True)]
        assert store.changes_since(0).changes[0].users == (User("u1", None, -1, True),)
    finally:
        store.close()


def test_compaction_drops_writes_up_to_a_head_and_keeps_deletions(store: GraphStore) -> None:
    fill(store)
    first = store.write_events([User("n1")], [Interaction("n1", "i1", "view", 1.0, 1)])
    assert store.delete_user("u10")
    gone = log_head(store)
    later = store.write_events([], [Interaction("u1", "i3", "view", 1.0, 2)])
    with pytest.raises(ValueError, match="upto must be >= 0"):
        store.compact_changes(-1)
    assert store.compact_changes(first - 1) == 0
    assert store.compact_changes(gone) == 2  # n1's user row and interaction row
    assert [c.seq for c in store.changes_since(0).changes] == [gone, later]
    assert store.changes_since(0).head == later
    assert store.compact_changes(later, keep_deletions=False) == 2
    assert store.changes_since(0) == ChangePage((), later, later)
    assert store.counts().users == 4  # the data stays; only the log shrinks
