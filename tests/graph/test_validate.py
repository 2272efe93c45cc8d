"""Every rejection reason on tiny inline CSVs, with exact file, line and field."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from graph.load import load_directory
from graph.schema import UNKNOWN_TS
from graph.sqlite_store import SQLiteStore
from graph.validate import MAX_SHOWN, parse_timestamp, shown

NOW = 1_700_000_000  # 2023-11-14


def rejects_for(tmp_path: Path, files: dict[str, str | bytes]) -> list[tuple[str, int, str, str]]:
    """Write ``files`` into an input directory, load it, return (file, line, field, reason)."""
    data = tmp_path / "in"
    data.mkdir()
    for name, content in files.items():
        path = data / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    store = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        summary = load_directory(store, data, tmp_path / "report", now=NOW)
    finally:
        store.close()
    with summary.rejects_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(r["file"], int(r["line"]), r["field"], r["reason"]) for r in rows]


USERS = "user_id\nu1\nu2\n"
ITEMS = "item_id\ni1\n"


def test_users_missing_id_duplicate_and_bad_signup(tmp_path: Path) -> None:
    rejects = rejects_for(
        tmp_path,
        {
            "users.csv": "user_id,region,signup_ts\n"
            "u1,eu,2020-01-01\n"
            " ,eu,\n"
            "u1,us,\n"
            "u2,,yesterday\n"
            "u3,,-5\n"
            "u4,,99999999999\n"
            "u5,,1600000000\n"
            "u\x1f6,,\n"
        },
    )
    assert rejects == [
        ("users.csv", 3, "user_id", "missing user_id"),
        ("users.csv", 4, "user_id", "duplicate of line 2"),
        (
            "users.csv",
            5,
            "signup_ts",
            "timestamp 'yesterday' is neither epoch seconds nor ISO-8601",
        ),
        ("users.csv", 6, "signup_ts", "timestamp '-5' is before 1970 (negative)"),
        ("users.csv", 7, "signup_ts", "timestamp '99999999999' is more than a year in the future"),
        ("users.csv", 9, "user_id", "user_id contains the control character U+001F"),
    ]


def test_items_price_and_stock(tmp_path: Path) -> None:
    rejects = rejects_for(
        tmp_path,
        {
            "items.csv": "item_id,category,price,in_stock\n"
            "i1,shoes,9.5,yes\n"
            "i2,shoes,-1,true\n"
            "i3,shoes,cheap,\n"
            "i4,shoes,nan,\n"
            "i5,shoes,1,maybe\n"
        },
    )
    assert rejects == [
        ("items.csv", 3, "price", "price must be >= 0"),
        ("items.csv", 4, "price", "price is not a number"),
        ("items.csv", 5, "price", "price must be finite"),
        ("items.csv", 6, "in_stock", "in_stock must be true/false/1/0/yes/no"),
    ]


def test_friendships(tmp_path: Path) -> None:
    rejects = rejects_for(
        tmp_path,
        {
            "users.csv": "user_id\nu1\nu2\nu3\n",
            "friendships.csv": "user_id,friend_id,kind\n"
            "u1,u2,friend\n"
            "u2,u1,\n"  # the reverse listing of a mutual friendship: accepted
            "u1,u2,friend\n"
            "u1,u1,follow\n"
            "u1,ghost,follow\n"
            "u1,u3,likes\n"
            "u3,u1,follow\n"
            "u3,u1,follow\n"
            "u1,u3,follow\n",  # the opposite follow is a different edge
        },
    )
    assert rejects == [
        ("friendships.csv", 4, "user_id,friend_id,kind", "duplicate of line 2"),
        ("friendships.csv", 5, "friend_id", "self-friendship"),
        ("friendships.csv", 6, "friend_id", "unknown user 'ghost' (not in users nor in the store)"),
        ("friendships.csv", 7, "kind", "unknown friendship kind (expected friend|follow)"),
        ("friendships.csv", 9, "user_id,friend_id,kind", "duplicate of line 8"),
    ]


def test_interactions(tmp_path: Path) -> None:
    rejects = rejects_for(
        tmp_path,
        {
            "users.csv": USERS,
            "items.csv": ITEMS,
            "interactions.csv": "user_id,item_id,kind,value,ts\n"
            "u1,i1,view,,\n"
            "u1,i1,view,3,\n"
            "u1,i1,view,1,100\n"
            "u9,i1,view,,\n"
            "u1,i9,view,,\n"
            "u1,i1,like,,\n"
            "u1,i1,click,-2,\n"
            "u1,i1,click,lots,\n"
            "u1,i1,rating,6,\n"
            "u1,i1,rating,,\n"
            "u1,i1,rating,4.5,\n"
            "u1,i1,purchase,,2020-13-01\n"
            ",i1,view,,\n"
            "u2,i1,purchase,1,2020-01-01T00:00:00Z\n"
            "u2,i1,purchase,1,1577836800\n",
        },
    )
    assert rejects == [
        ("interactions.csv", 3, "user_id,item_id,kind,ts", "duplicate of line 2"),
        ("interactions.csv", 5, "user_id", "unknown user 'u9' (not in users nor in the store)"),
        ("interactions.csv", 6, "item_id", "unknown item 'i9' (not in items nor in the store)"),
        (
            "interactions.csv",
            7,
            "kind",
            "unknown interaction kind (expected view|click|cart|purchase|rating|tag)",
        ),
        ("interactions.csv", 8, "value", "value must be >= 0"),
        ("interactions.csv", 9, "value", "value is not a number"),
        ("interactions.csv", 10, "value", "a rating needs a value in [0, 5]"),
        ("interactions.csv", 11, "value", "a rating needs a value in [0, 5]"),
        (
            "interactions.csv",
            13,
            "ts",
            "timestamp '2020-13-01' is neither epoch seconds nor ISO-8601",
        ),
        ("interactions.csv", 14, "user_id", "missing user_id"),
        ("interactions.csv", 16, "user_id,item_id,kind,ts", "duplicate of line 15"),
    ]


def test_invalid_utf8_and_malformed_rows(tmp_path: Path) -> None:
    users = b"user_id,region\nu1,eu\nu2,caf\xe9\nu3,eu,extra\nu4\n"
    rejects = rejects_for(tmp_path, {"users.csv": users})
    assert rejects == [
        ("users.csv", 3, "region", "invalid UTF-8 in region"),
        ("users.csv", 4, "(row)", "row has 3 fields, the header has 2"),
        ("users.csv", 5, "(row)", "row has 1 fields, the header has 2"),
    ]
    with (tmp_path / "report" / "rejects.csv").open(encoding="utf-8") as handle:
        assert "caf\\xe9" in handle.read()


def test_quoted_multiline_field_keeps_physical_line_numbers(tmp_path: Path) -> None:
    rejects = rejects_for(tmp_path, {"users.csv": 'user_id,region\nu1,"north\nwest"\nu1,eu\n'})
    assert rejects == [("users.csv", 4, "user_id", "duplicate of line 2")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, UNKNOWN_TS),
        ("0", 0),
        ("1577836800", 1577836800),
        ("1577836800.9", 1577836800),
        ("2020-01-01", 1577836800),
        ("2020-01-01T00:00:00Z", 1577836800),
        ("2020-01-01T01:00:00+01:00", 1577836800),
        ("2020-01-01 00:00:30", 1577836830),
    ],
)
def test_parse_timestamp(text: str | None, expected: int) -> None:
    assert parse_timestamp(text, NOW) == expected


def test_shown_truncates_and_escapes() -> None:
    assert shown("x" * 200) == "x" * (MAX_SHOWN - 1) + "…"
    assert shown(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
    assert shown(None) == ""


def test_ids_with_surrounding_whitespace_are_rejected(tmp_path: Path) -> None:
    rejects = rejects_for(tmp_path, {"users.csv": 'user_id\n spaced \nu1\t\nin side\n"\tq"\n'})
    reason = (
        "user_id has leading or trailing whitespace (ids are kept exactly as given, never stripped)"
    )
    assert rejects == [
        ("users.csv", 2, "user_id", reason),
        ("users.csv", 3, "user_id", reason),
        ("users.csv", 5, "user_id", reason),
    ]
