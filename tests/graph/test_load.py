"""Loading a directory: good rows stored, bad rows reported by line, re-load idempotent."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from graph.load import load_directory, load_tables
from graph.readers import InputFormatError, read_lastfm, read_recbole
from graph.schema import Friendship, Interaction, Item, User
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore, StoreCounts
from tests.graph.small_world import write_small_world

NOW = 1_700_000_000


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return write_small_world(tmp_path / "world")


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_load_directory_and_reload(world: Path, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    report = tmp_path / "report"
    seen: list[tuple[str, int]] = []
    summary = load_directory(
        store, world, report, batch_size=2, now=NOW, progress=lambda t, n: seen.append((t, n))
    )
    assert summary.counts == StoreCounts(users=3, items=2, friendships=2, interactions=2)
    assert [(t.table, t.read, t.accepted, t.rejected) for t in summary.tables] == [
        ("users", 4, 3, 1),
        ("items", 3, 2, 1),
        ("friendships", 3, 2, 1),
        ("interactions", 3, 2, 1),
    ]
    assert summary.tables[0].ignored_columns == ["nickname"]
    assert seen == [
        ("users", 2),
        ("users", 2),
        ("items", 2),
        ("items", 1),
        ("friendships", 2),
        ("friendships", 1),
        ("interactions", 2),
        ("interactions", 1),
    ]
    rejects = read_rejects(report / "rejects.csv")
    assert [(r["file"], r["line"], r["field"], r["value"]) for r in rejects] == [
        ("users.csv", "4", "user_id", ""),
        ("items.csv", "3", "price", "-3"),
        ("friendships.csv", "4", "friend_id", "u1"),
        ("interactions.csv", "3", "item_id", "i2"),
    ]
    assert [u for page in store.iter_users() for u in page] == [
        User("3"),
        User("u1", "eu", 1577836800),
        User("u2", "us"),
    ]
    assert [i for page in store.iter_items() for i in page] == [
        Item("i1", "shoes", 10.0, True),
        Item("i3"),
    ]
    assert [f for page in store.iter_friendships() for f in page] == [
        Friendship("u1", "3", "follow"),
        Friendship("u1", "u2", "friend"),
    ]
    assert [r for page in store.iter_interactions() for r in page] == [
        Interaction("3", "i3", "rating", 4.0, 1600000000),
        Interaction("u1", "i1", "purchase", 1.0, 1600000000),
    ]
    written = json.loads((report / "load_summary.json").read_text())
    assert written["store_counts"] == {"users": 3, "items": 2, "friendships": 2, "interactions": 2}
    assert written["tables"][3]["rejected"] == 1

    again = load_directory(store, world, tmp_path / "report2", now=NOW)
    assert again.counts == summary.counts
    assert read_rejects(tmp_path / "report2" / "rejects.csv") == rejects
    store.close()


def test_references_resolve_against_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    store.upsert_users([User("old")])
    store.upsert_items([Item("old-item")])
    data = tmp_path / "in"
    data.mkdir()
    (data / "interactions.csv").write_text(
        "user_id,item_id,kind\nold,old-item,click\nnew,old-item,click\n", encoding="utf-8"
    )
    summary = load_directory(store, data, tmp_path / "r")
    assert summary.counts.interactions == 1
    assert [r["value"] for r in read_rejects(summary.rejects_path)] == ["new"]
    store.close()


def test_bad_header_loads_nothing(world: Path, tmp_path: Path) -> None:
    (world / "items.csv").write_text("sku,price\n1,2\n", encoding="utf-8")
    store = SQLiteStore(tmp_path / "g.sqlite3")
    with pytest.raises(InputFormatError, match=r"items\.csv: required column 'item_id'"):
        load_directory(store, world, tmp_path / "r")
    assert store.counts() == StoreCounts(0, 0, 0, 0)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        load_directory(store, world, tmp_path / "r", batch_size=0)
    store.close()


@pytest.mark.lastfm
def test_lastfm_release_and_recbole_files_load_to_the_same_graph(
    lastfm_dir: Path, tmp_path: Path
) -> None:
    hetrec = SQLiteStore(tmp_path / "h.sqlite3")
    first = load_tables(hetrec, read_lastfm(lastfm_dir / "hetrec2011"), tmp_path / "rh")
    # The release also has tag adoptions (71,064 first tags, three dated 1956/1957 and so
    # rejected, and 390 tagged artists missing from artists.dat); RecBole's files have none.
    assert first.rejected == 3
    assert first.counts == StoreCounts(1892, 17632 + 390, 12717, 92834 + 71061)
    recbole = SQLiteStore(tmp_path / "r.sqlite3")
    second = load_tables(
        recbole,
        read_recbole(lastfm_dir / "lastfm.inter", lastfm_dir / "lastfm.net", mutual=True),
        tmp_path / "rr",
    )
    assert second.rejected == 0
    assert second.counts == StoreCounts(1892, 17632, first.counts.friendships, 92834)
    assert list(hetrec.iter_friendships()) == list(recbole.iter_friendships())
    hetrec.close()
    recbole.close()


def test_partial_user_rows_keep_stored_attributes(store: GraphStore, tmp_path: Path) -> None:
    for n, text in enumerate(
        (
            "user_id,region,signup_ts\nu1,eu,1600000000\nu2,us,1600000001\n",
            "user_id\nu1\n",  # the columns are absent
            "user_id,region,signup_ts\nu1,,\nu2,mars,\n",  # empty fields; a new region
        )
    ):
        data = tmp_path / f"in{n}"
        data.mkdir()
        (data / "users.csv").write_text(text, encoding="utf-8")
        load_directory(store, data, tmp_path / f"r{n}")
    users = {u.user_id: u for page in store.iter_users() for u in page}
    assert users["u1"] == User("u1", "eu", 1600000000)
    assert users["u2"] == User("u2", "mars", 1600000001)


def test_the_privacy_setting_loads_from_the_users_table(store: GraphStore, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "users.csv").write_text(
        "user_id,private\nu1,yes\nu2,maybe\nu3,\nu4,false\n", encoding="utf-8"
    )
    summary = load_directory(store, data, tmp_path / "r")
    assert [(r["line"], r["field"], r["reason"]) for r in read_rejects(summary.rejects_path)] == [
        ("3", "private", "private must be true/false/1/0/yes/no")
    ]
    users = {u.user_id: u.private for page in store.iter_users() for u in page}
    assert users == {"u1": True, "u3": None, "u4": False}


def test_recbole_ratings_load_with_value_and_time(store: GraphStore, tmp_path: Path) -> None:
    inter = tmp_path / "ml.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3.5\t881250949.0\n186\t302\t\t881250950\n",
        encoding="utf-8",
    )
    summary = load_tables(store, read_recbole(inter), tmp_path / "r")
    assert [r["reason"] for r in read_rejects(summary.rejects_path)] == [
        "a rating needs a value in [0, 5]"
    ]
    assert list(store.iter_interactions()) == [
        [Interaction("196", "242", "rating", 3.5, 881250949)]
    ]


def test_an_empty_ts_is_an_unknown_time(store: GraphStore, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "users.csv").write_text("user_id\nu1\n", encoding="utf-8")
    (data / "items.csv").write_text("item_id\ni1\n", encoding="utf-8")
    (data / "interactions.csv").write_text(
        "user_id,item_id,kind,ts\nu1,i1,view,\n", encoding="utf-8"
    )
    load_directory(store, data, tmp_path / "r")
    assert list(store.iter_interactions()) == [[Interaction("u1", "i1", "view", 1.0, -1)]]


def test_sqlite_bulk_load_stages_edges_and_merges_them_at_the_end(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        store.upsert_users([User("a"), User("b")])
        store.upsert_items([Item("x")])
        with pytest.raises(RuntimeError, match="stop"), store.bulk_load():
            store.upsert_rows("interactions", [("a", "x", "view", 5, 1.0)])
            assert store.counts().interactions == 0  # staged, not yet in the table
            raise RuntimeError("stop")
        assert store.counts().interactions == 0  # an error before the end writes no edge
        with store.bulk_load():
            store.upsert_rows("interactions", [("a", "x", "view", 5, 2.0)])
            store.upsert_rows(
                "interactions", [("a", "x", "view", 5, 3.0), ("b", "x", "cart", 1, 1.0)]
            )
            store.upsert_rows("friendships", [("a", "b", "friend"), ("a", "b", "friend")])
        rows = [r for page in store.iter_interactions() for r in page]
        assert rows == [
            Interaction("a", "x", "view", 3.0, 5),
            Interaction("b", "x", "cart", 1.0, 1),
        ]
        assert store.counts().friendships == 1
        store.upsert_rows("friendships", [("a", "b", "follow")])  # outside a bulk load: at once
        assert store.counts().friendships == 2
        assert store._conn.execute("SELECT count(*) FROM sqlite_temp_master").fetchone()[0] == 0
    finally:
        store.close()


def test_a_bulk_load_keeps_the_friend_index_whether_the_table_was_empty_or_not(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "g.sqlite3")
    query = "EXPLAIN QUERY PLAN SELECT user_id FROM friendships WHERE friend_id = 'b'"
    try:
        store.upsert_users([User("a"), User("b"), User("c")])
        for rows in ([("a", "b", "friend")], [("a", "c", "follow"), ("c", "b", "follow")]):
            with store.bulk_load():  # first into an empty table (index rebuilt), then not
                store.upsert_rows("friendships", rows)
            plan = " ".join(str(row[-1]) for row in store._conn.execute(query))
            assert "friendships_by_friend" in plan
        found = store._conn.execute("SELECT user_id FROM friendships WHERE friend_id = 'b'")
        assert sorted(r[0] for r in found) == ["a", "c"]
    finally:
        store.close()
