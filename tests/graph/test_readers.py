"""Readers: the directory format (CSV and Parquet), LastFM hetrec2011 and RecBole files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph.readers import (
    InputFormatError,
    RawRow,
    read_directory,
    read_lastfm,
    read_recbole,
    read_table_file,
)


def test_csv_strips_values_but_ids_ignores_extra_columns_and_numbers_lines(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,price,colour\n 7 , 9.5 ,red\n\n8,,blue\n", encoding="utf-8")
    source = read_table_file(path, "items")
    assert source.ignored_columns == ("colour",)
    assert list(source.rows) == [
        RawRow(2, {"item_id": " 7 ", "price": "9.5"}),  # ids as given (validation rejects)
        RawRow(4, {"item_id": "8", "price": None}),
    ]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id\nu1\n", encoding="utf-8")
    (tmp_path / "interactions.csv").write_text("user_id,item_id\nu1,i1\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"interactions\.csv: required column 'kind'"):
        read_directory(tmp_path)


def test_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="does not exist"):
        read_directory(tmp_path / "nope")
    with pytest.raises(InputFormatError, match="holds no table file"):
        read_directory(tmp_path)
    (tmp_path / "users.csv").write_text("user_id\n", encoding="utf-8")
    pq.write_table(pa.table({"user_id": ["a"]}), tmp_path / "users.parquet")
    with pytest.raises(InputFormatError, match=r"both users\.csv and users\.parquet"):
        read_directory(tmp_path)
    with pytest.raises(ValueError, match="table must be one of"):
        read_table_file(tmp_path / "users.csv", "people")


def test_parquet_values_become_stripped_strings(tmp_path: Path) -> None:
    table = pa.table(
        {
            "item_id": [1, 2, None],
            "price": [1.5, None, 2.0],
            "in_stock": [True, False, None],
            "extra": ["x", "y", "z"],
        }
    )
    pq.write_table(table, tmp_path / "items.parquet")
    (source,) = read_directory(tmp_path)
    assert (source.table, source.file, source.ignored_columns) == (
        "items",
        "items.parquet",
        ("extra",),
    )
    assert list(source.rows) == [
        RawRow(1, {"item_id": "1", "price": "1.5", "in_stock": "true"}),
        RawRow(2, {"item_id": "2", "price": None, "in_stock": "false"}),
        RawRow(3, {"item_id": None, "price": "2.0", "in_stock": None}),
    ]


@pytest.mark.parametrize(("mutual", "kind"), [(False, "follow"), (True, "friend")])
def test_recbole_links_are_follows_unless_mutual(tmp_path: Path, mutual: bool, kind: str) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\n1\t10\n2\t10\n1\t11\n", encoding="utf-8")
    net = tmp_path / "x.net"
    net.write_text("source_id:token\ttarget_id:token\r\n1\t2\r\n2\t1\r\n2\t3\r\n", encoding="utf-8")
    sources = {(s.table, s.file): list(s.rows) for s in read_recbole(inter, net, mutual=mutual)}
    assert [r.values["user_id"] for r in sources["users", "x.inter"]] == ["1", "2"]
    assert sources["users", "x.net"] == [RawRow(4, {"user_id": "3"})]
    assert [r.values["item_id"] for r in sources["items", "x.inter"]] == ["10", "11"]
    assert [(r.line, r.values["kind"]) for r in sources["friendships", "x.net"]] == [
        (2, kind),
        (3, kind),
        (4, kind),
    ]
    assert sources["interactions", "x.inter"][0] == RawRow(
        2, {"user_id": "1", "item_id": "10", "kind": "view"}
    )


def test_recbole_ratings_and_timestamps_load(tmp_path: Path) -> None:
    inter = tmp_path / "ml.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\tlabel:float\n"
        "196\t242\t3.5\t881250949.0\t1\n186\t302\t\t\t0\n",
        encoding="utf-8",
    )
    sources = {s.table: s for s in read_recbole(inter)}
    assert sources["interactions"].ignored_columns == ("label:float",)
    assert [r.values for r in sources["interactions"].rows] == [
        {"user_id": "196", "item_id": "242", "value": "3.5", "ts": "881250949.0", "kind": "rating"},
        {"user_id": "186", "item_id": "302", "value": None, "ts": None, "kind": "rating"},
    ]


def test_recbole_rejects_untyped_header(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("user\titem\n1\t2\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="RecBole header"):
        read_recbole(inter)


@pytest.mark.lastfm
def test_lastfm_hetrec_release(lastfm_dir: Path) -> None:
    sources = {(s.table, s.file): s for s in read_lastfm(lastfm_dir / "hetrec2011")}
    users = list(sources["users", "user_artists.dat"].rows)
    items = list(sources["items", "artists.dat"].rows)
    interactions = list(sources["interactions", "user_artists.dat"].rows)
    friendships = list(sources["friendships", "user_friends.dat"].rows)
    tags = list(sources["interactions", "user_taggedartists.dat"].rows)
    # Figures from the release's readme.txt.
    assert (len(users), len(items), len(interactions), len(friendships)) == (
        1892,
        17632,
        92834,
        25434,
    )
    assert interactions[0] == RawRow(
        2, {"user_id": "2", "item_id": "51", "value": "13883", "kind": "view"}
    )
    assert friendships[0] == RawRow(2, {"user_id": "2", "friend_id": "275", "kind": "friend"})
    by_id = {r.values["item_id"]: r for r in items}
    assert by_id["1"].line == 2
    # Most frequent tags counted with awk over user_taggedartists.dat: artist 89 has tag 24
    # ("pop") 99 times; artist 1 has tag 139 five times.
    assert by_id["89"].values["category"] == "pop"
    assert by_id["1"].values["category"] == "j-rock"
    # Tag adoptions: one per distinct (user, artist) pair (71,064, counted with awk), dated by
    # its earliest row; 390 tagged artists are missing from artists.dat and are added.
    assert len(tags) == 71_064
    assert tags[0] == RawRow(
        2, {"user_id": "2", "item_id": "52", "kind": "tag", "ts": "2009-04-01"}
    )
    assert len(list(sources["items", "user_taggedartists.dat"].rows)) == 390


def test_lastfm_category_is_most_frequent_latin1_tag(tmp_path: Path) -> None:
    (tmp_path / "user_artists.dat").write_text("userID\tartistID\tweight\n1\t7\t3\n")
    (tmp_path / "user_friends.dat").write_text("userID\tfriendID\n1\t2\n2\t1\n")
    (tmp_path / "artists.dat").write_text("id\tname\turl\tpictureURL\n7\tCaetano\tu\tp\n")
    (tmp_path / "tags.dat").write_bytes(b"tagID\ttagValue\n1\ttropic\xe1lia\n2\tmpb\n")
    (tmp_path / "user_taggedartists.dat").write_text(
        "userID\tartistID\ttagID\tday\tmonth\tyear\n"
        "1\t7\t2\t1\t1\t2009\n1\t7\t1\t1\t1\t2009\n2\t7\t1\t1\t1\t2009\n"
    )
    sources = {(s.table, s.file): list(s.rows) for s in read_lastfm(tmp_path)}
    assert sources["items", "artists.dat"] == [
        RawRow(2, {"item_id": "7", "category": "tropicália"})
    ]
    assert sources["users", "user_artists.dat"] == [RawRow(2, {"user_id": "1"})]
    assert sources["users", "user_friends.dat"] == [RawRow(2, {"user_id": "2"})]


@pytest.mark.lastfm
def test_lastfm_recbole_files_sample(lastfm_dir: Path, tmp_path: Path) -> None:
    inter, net = tmp_path / "lastfm.inter", tmp_path / "lastfm.net"
    with (lastfm_dir / "lastfm.inter").open(encoding="utf-8", newline="") as src:
        inter.write_text("".join(itertools.islice(src, 201)), encoding="utf-8")
    with (lastfm_dir / "lastfm.net").open(encoding="utf-8", newline="") as src:
        net.write_text("".join(itertools.islice(src, 201)), encoding="utf-8")
    sources = {(s.table, s.file): list(s.rows) for s in read_recbole(inter, net)}
    assert len(sources["interactions", "lastfm.inter"]) == 200
    assert sources["interactions", "lastfm.inter"][0].values == {
        "user_id": "2",
        "item_id": "51",
        "kind": "view",
    }
    friendships = sources["friendships", "lastfm.net"]
    assert len(friendships) == 200
    assert friendships[0].values == {"user_id": "2", "friend_id": "275", "kind": "follow"}


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes("user_id,region\nu1,eu\n".encode("utf-8-sig"))
    assert list(read_table_file(path, "users").rows) == [
        RawRow(2, {"user_id": "u1", "region": "eu"})
    ]


def test_recbole_reports_extra_columns_as_ignored(tmp_path: Path) -> None:
    inter = tmp_path / "x.inter"
    inter.write_text("user_id:token\titem_id:token\tlabel:float\n1\t10\t4\n1\n", encoding="utf-8")
    (*_, interactions) = read_recbole(inter)
    assert interactions.ignored_columns == ("label:float",)
    assert list(interactions.rows) == [
        RawRow(2, {"user_id": "1", "item_id": "10", "kind": "view"}),
        RawRow(
            3, {"user_id": "1", "item_id": None, "kind": "view"}, "row has 1 fields, expected 3"
        ),
    ]
