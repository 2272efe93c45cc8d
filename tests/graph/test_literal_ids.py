"""Hostile ids (quotes, backslashes, Cypher and SQL fragments, control characters, unicode,
the longest allowed) go through load -> store -> export unchanged, in both stores; longer ids
are rejected with the limit in the reason."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Final, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph.export import export_snapshot
from graph.load import load_directory
from graph.readers import TABLE_COLUMNS
from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.snapshot import read_snapshot
from graph.store import GraphStore, StoreCounts
from graph.validate import MAX_ID_CHARS

_Row = TypeVar("_Row")

LITERAL_IDS: Final[list[str]] = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "x'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n //',
    "$id",
    "{id: 'u1'}",
    "'; DROP TABLE users; --",
    "%s %d {0}",
    "a,b;c\td",
    "line\nbreak\r\nand\rcr",
    "nul\x00byte",
    "😀🛒",
    "שלום עולם",  # right-to-left script
    "\u202eevil\u202c",  # right-to-left override
    "e\u0301",  # e + combining acute accent ...
    "\u00e9",  # ... and the precomposed é: two different ids
    "Ａ",  # fullwidth A: above the UTF-16 surrogates, below the emoji in code points
    "A",
    "a",
    "a/b",
    "x" * MAX_ID_CHARS,
    "🛒" * MAX_ID_CHARS,  # 256 characters, 1024 bytes of UTF-8
]
TOO_LONG: Final[list[str]] = ["y" * (MAX_ID_CHARS + 1), "z" * 10_000]
REGION: Final[str] = "n'o\"r\\th 🧭"
T0: Final[int] = 1_700_000_000


def users() -> list[User]:
    return [User(uid, REGION if n % 2 else None, T0 + n) for n, uid in enumerate(LITERAL_IDS)]


def items() -> list[Item]:
    return [
        Item(iid, f"cat<{iid[:10]}>", float(n), n % 3 != 0) for n, iid in enumerate(LITERAL_IDS)
    ]


def friendships() -> list[Friendship]:
    pairs = pairwise(LITERAL_IDS)
    return [Friendship(a, b, "friend" if n % 2 else "follow") for n, (a, b) in enumerate(pairs)]


def interactions() -> list[Interaction]:
    rows = []
    for n, uid in enumerate(LITERAL_IDS):
        rows.append(Interaction(uid, uid, "purchase", 1.0, T0 + n))
        rows.append(Interaction(uid, LITERAL_IDS[n - 1], "view", 2.0, T0 + n))
    return rows


def tables() -> dict[str, list[dict[str, object]]]:
    """Every table as rows of column values: the good rows, then one over-long row each."""
    long_user, long_item = TOO_LONG
    return {
        "users": [
            {"user_id": u.user_id, "region": u.region, "signup_ts": u.signup_ts} for u in users()
        ]
        + [{"user_id": long_user}],
        "items": [
            {"item_id": i.item_id, "category": i.category, "price": i.price, "in_stock": i.in_stock}
            for i in items()
        ]
        + [{"item_id": long_item}],
        "friendships": [
            {"user_id": f.user_id, "friend_id": f.friend_id, "kind": f.kind} for f in friendships()
        ]
        + [{"user_id": "a", "friend_id": long_user, "kind": "follow"}],
        "interactions": [
            {
                "user_id": r.user_id,
                "item_id": r.item_id,
                "kind": r.kind,
                "value": r.value,
                "ts": r.ts,
            }
            for r in interactions()
        ]
        + [{"user_id": "a", "item_id": long_item, "kind": "view"}],
    }


def write_inputs(directory: Path, fmt: str) -> Path:
    directory.mkdir()
    for table, rows in tables().items():
        required, optional = TABLE_COLUMNS[table]
        columns = [*required, *optional]
        if fmt == "csv":
            with (directory / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, columns)
                writer.writeheader()
                writer.writerows(rows)
        else:
            data = {c: [None if r.get(c) is None else str(r[c]) for r in rows] for c in columns}
            pq.write_table(pa.table(data), directory / f"{table}.parquet")
    return directory


def flat(pages: Iterator[list[_Row]] | Iterable[list[_Row]]) -> list[_Row]:
    return [row for page in pages for row in page]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_ids_are_stored_and_exported_literally(store: GraphStore, tmp_path: Path, fmt: str) -> None:
    summary = load_directory(store, write_inputs(tmp_path / "in", fmt), tmp_path / "report")

    # The four over-long rows are rejected, naming the limit; nothing else is.
    with summary.rejects_path.open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["file"].split(".")[0], r["field"]) for r in rejects] == [
        ("users", "user_id"),
        ("items", "item_id"),
        ("friendships", "friend_id"),
        ("interactions", "item_id"),
    ]
    assert rejects[0]["reason"] == f"user_id is {MAX_ID_CHARS + 1} characters long, more than 256"
    assert rejects[1]["reason"] == "item_id is 10000 characters long, more than 256"
    n = len(LITERAL_IDS)
    assert store.counts() == StoreCounts(n, n, n - 1, 2 * n)

    # Stored exactly, in the protocol's order (by id as a string).
    assert flat(store.iter_users(batch_size=5)) == sorted(users(), key=lambda u: u.user_id)
    assert flat(store.iter_items(batch_size=5)) == sorted(items(), key=lambda i: i.item_id)
    stored_friendships = [canonical_friendship(f) for f in friendships()]
    assert set(flat(store.iter_friendships(batch_size=5))) == set(stored_friendships)
    assert set(flat(store.iter_interactions(batch_size=5))) == set(interactions())
    assert store.existing_user_ids([*LITERAL_IDS, "nobody", *TOO_LONG]) == set(LITERAL_IDS)
    assert store.existing_item_ids(["x'}) DETACH DELETE n //", "e\u0301"]) == {
        "x'}) DETACH DELETE n //",
        "e\u0301",
    }

    # The snapshot (and its files) carry the same ids.
    exported = export_snapshot(store, tmp_path / "snapshot", batch_size=7)
    assert exported.user_ids == sorted(LITERAL_IDS)
    assert exported.item_ids == sorted(LITERAL_IDS)
    assert len(exported.inter_user) == 2 * n
    reread = read_snapshot(tmp_path / "snapshot")
    assert (reread.user_ids, reread.item_ids) == (exported.user_ids, exported.item_ids)
    assert reread.regions == [REGION]

    # A Cypher fragment as an id deletes that user only.
    assert store.delete_user("x'}) DETACH DELETE n //") is True
    assert store.counts().users == n - 1
    assert store.delete_user("x'}) DETACH DELETE n //") is False
    assert store.existing_user_ids(LITERAL_IDS) == set(LITERAL_IDS) - {"x'}) DETACH DELETE n //"}
