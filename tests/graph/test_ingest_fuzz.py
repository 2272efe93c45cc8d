"""Ingest fuzzing (hypothesis): random malformed rows mixed with good ones, written as CSV
files and loaded into each store through :func:`graph.load.load_directory`.

Every generated row carries its expected fate. Bad rows have exactly one defect each (missing
or over-long id, wrong type, bad timestamp, negative or non-finite number, unknown kind,
dangling reference, wrong field count, invalid UTF-8); duplicates and mirrored friendships
are decided in file order by a small oracle. The test then checks that the store holds exactly
the good rows (each once, with their values) and that ``rejects.csv`` holds exactly the bad
rows, each with its file, line, field and reason.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings

from graph.load import load_directory
from graph.readers import InputFormatError
from graph.schema import (
    Friendship,
    Interaction,
    Item,
    User,
    canonical_friendship,
)
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore, StoreCounts
from tests.bolt_server import BoltTarget, clear_database
from tests.graph.ingest_scenarios import (
    FUZZ,
    NOW,
    Scenario,
    parquet_scenarios,
    scenarios,
    write_scenario,
)

_Row = TypeVar("_Row")


def _key(row: User | Item | Friendship | Interaction) -> tuple[object, ...]:
    if isinstance(row, User):
        return (row.user_id,)
    if isinstance(row, Item):
        return (row.item_id,)
    if isinstance(row, Friendship):
        c = canonical_friendship(row)
        return (c.user_id, c.friend_id, c.kind)
    return (row.user_id, row.item_id, row.kind, row.ts)


def _key_fields(table: str) -> str:
    return {
        "users": "user_id",
        "items": "item_id",
        "friendships": "user_id,friend_id,kind",
        "interactions": "user_id,item_id,kind,ts",
    }[table]


def expected_outcome(
    scenario: Scenario, lines: dict[str, list[int]]
) -> tuple[dict[str, list[object]], list[tuple[str, int, str, str]]]:
    """(stored rows per table, rejects as (file, line, field, reason)) in file order."""
    stored: dict[str, list[object]] = {}
    rejects: list[tuple[str, int, str, str]] = []
    for table, rows in scenario.tables.items():
        first: dict[tuple[object, ...], tuple[int, bool]] = {}  # key -> (line, reversed)
        mirrored: set[tuple[object, ...]] = set()
        kept: list[object] = []
        for row, line in zip(rows, lines[table], strict=True):
            if row.reject is not None:
                rejects.append((table + scenario.suffix, line, *row.reject))
                continue
            assert row.parsed is not None
            key = _key(row.parsed)
            reverse = (
                isinstance(row.parsed, Friendship) and row.parsed.user_id > row.parsed.friend_id
            )
            if key not in first:
                first[key] = (line, reverse)
                kept.append(
                    canonical_friendship(row.parsed)
                    if isinstance(row.parsed, Friendship)
                    else row.parsed
                )
                continue
            earlier, earlier_reverse = first[key]
            if (
                isinstance(row.parsed, Friendship)
                and row.parsed.kind == "friend"
                and earlier_reverse != reverse
                and key not in mirrored
            ):
                mirrored.add(key)  # the same mutual friendship, listed the other way round
                continue
            rejects.append(
                (table + scenario.suffix, line, _key_fields(table), f"duplicate of line {earlier}")
            )
        stored[table] = kept
    return stored, rejects


def flat(pages: Iterable[list[_Row]] | Iterator[list[_Row]]) -> list[_Row]:
    return [row for page in pages for row in page]


def check_load(store: GraphStore, scenario: Scenario, work: Path) -> None:
    """Load ``scenario`` into the empty ``store`` and compare with the oracle."""
    inputs = work / "in"
    inputs.mkdir()
    lines = write_scenario(scenario, inputs)
    summary = load_directory(
        store, inputs, work / "report", batch_size=scenario.batch_size, now=NOW
    )
    stored, rejects = expected_outcome(scenario, lines)

    with summary.rejects_path.open(encoding="utf-8", newline="") as handle:
        reported = [
            (r["file"], int(r["line"]), r["field"], r["reason"]) for r in csv.DictReader(handle)
        ]
    assert sorted(reported) == sorted(rejects)
    assert summary.rejected == len(rejects)
    assert sum(t.read for t in summary.tables) == sum(len(r) for r in scenario.tables.values())

    assert store.counts() == StoreCounts(
        *(len(stored.get(t, [])) for t in ("users", "items", "friendships", "interactions"))
    )
    assert flat(store.iter_users(batch_size=3)) == sorted(stored["users"], key=_key)
    assert flat(store.iter_items(batch_size=3)) == sorted(stored["items"], key=_key)
    assert sorted(flat(store.iter_friendships()), key=_key) == sorted(
        stored.get("friendships", []), key=_key
    )
    assert sorted(flat(store.iter_interactions()), key=_key) == sorted(
        stored["interactions"], key=_key
    )


@settings(FUZZ, max_examples=25)
@given(scenario=scenarios())
def test_fuzzed_ingest_into_sqlite(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = SQLiteStore(work / "graph.sqlite3")
        try:
            check_load(store, scenario, work)
            before = store.counts()
            load_directory(
                store, work / "in", work / "again", batch_size=scenario.batch_size, now=NOW
            )
            assert store.counts() == before  # re-loading the same files changes nothing
        finally:
            store.close()


@settings(FUZZ, max_examples=10)
@given(scenario=scenarios())
def test_fuzzed_ingest_into_bolt(bolt_target: BoltTarget, scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = bolt_target.open_store()
        try:
            clear_database(store)
            check_load(store, scenario, Path(tmp))
        finally:
            store.close()


@settings(FUZZ, max_examples=25)
@given(scenario=parquet_scenarios())
def test_fuzzed_parquet_types_into_sqlite(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "graph.sqlite3")
        try:
            check_load(store, scenario, Path(tmp))
        finally:
            store.close()


def test_nested_parquet_columns_are_a_file_error(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    users = {"user_id": ["u1"], "region": pa.array([["north"]], pa.list_(pa.string()))}
    pq.write_table(pa.table(users), inputs / "users.parquet")
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        with pytest.raises(InputFormatError, match=r"column 'region' has Parquet type list<"):
            load_directory(store, inputs, tmp_path / "report")
        assert store.counts() == StoreCounts(0, 0, 0, 0)
    finally:
        store.close()
