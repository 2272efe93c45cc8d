"""The columnar loader against the row-by-row one it replaced (tests/graph/rowwise_reference.py).

Both load the same inputs into fresh SQLite stores; ``rejects.csv`` must be byte-identical and
every stored row equal. Inputs: the fuzz corpus of tests/graph/test_ingest_fuzz.py (CSV and
Parquet), the synthetic world with corrupt rows (CSV written by ``graph.synthetic``), that
world edited so the fast CSV split meets every case it hands over (blank and space-only lines,
CRLF endings, non-ASCII and undecodable bytes, wrong field counts, a quoted field that sends
the rest of the file to the ``csv`` module), in small blocks and batches; and the Last.fm
RecBole files with mutual links (every friendship listed both ways). A second load of the
same files (idempotent re-run) is compared too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import pytest
from hypothesis import given, settings

from graph import columns
from graph.load import load_tables
from graph.readers import TableSource, csv_rows, read_directory, read_recbole
from graph.sqlite_store import SQLiteStore
from graph.synthetic import WorldConfig, generate_world, write_world
from tests.graph.ingest_scenarios import (
    FUZZ,
    NOW,
    Scenario,
    parquet_scenarios,
    scenarios,
    write_scenario,
)
from tests.graph.rowwise_reference import rowwise_load

TABLE_SQL: Final[dict[str, str]] = {
    "users": "SELECT id, region, signup_ts, private FROM users ORDER BY id",
    "items": "SELECT id, category, price, in_stock FROM items ORDER BY id",
    "friendships": "SELECT user_id, friend_id, kind FROM friendships ORDER BY 1, 2, 3",
    "interactions": "SELECT user_id, item_id, kind, ts, value FROM interactions "
    "ORDER BY 1, 2, 3, 4",
}
#: "Now" for the synthetic world, whose times run to 2026.
WORLD_NOW: Final[int] = 1_800_000_000
LASTFM: Final[Path] = Path(__file__).resolve().parents[3] / "shared" / "data" / "lastfm"


def _rows(store: SQLiteStore) -> dict[str, list[tuple[object, ...]]]:
    return {t: store._conn.execute(sql).fetchall() for t, sql in TABLE_SQL.items()}


def assert_same_loads(
    sources: Callable[[], Sequence[TableSource]], work: Path, batch_size: int, now: int = NOW
) -> int:
    """Load ``sources()`` twice into each kind of loader; compare reports and stores.
    Returns the number of rejects of the first load."""
    new = SQLiteStore(work / "new.sqlite3")
    old = SQLiteStore(work / "old.sqlite3")
    try:
        rejected = 0
        for run in ("first", "again"):
            summary = load_tables(
                new, sources(), work / f"new_{run}", batch_size=batch_size, now=now
            )
            reference = rowwise_load(
                old, sources(), work / f"old_{run}", now=now, batch_size=batch_size
            )
            assert summary.rejects_path.read_bytes() == reference.read_bytes(), run
            assert _rows(new) == _rows(old), run
            rejected = rejected or summary.rejected
        return rejected
    finally:
        new.close()
        old.close()


def _check_scenario(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        write_scenario(scenario, work / "in")
        assert_same_loads(lambda: read_directory(work / "in"), work, scenario.batch_size)


@settings(FUZZ, max_examples=40)
@given(scenario=scenarios())
def test_fuzzed_csv_loads_as_the_row_by_row_loader_did(scenario: Scenario) -> None:
    _check_scenario(scenario)


@settings(FUZZ, max_examples=15)
@given(scenario=parquet_scenarios())
def test_fuzzed_parquet_loads_as_the_row_by_row_loader_did(scenario: Scenario) -> None:
    _check_scenario(scenario)


@pytest.fixture(scope="module")
def corrupt_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corrupt") / "in"
    world = generate_world(WorldConfig(num_users=600, num_items=150, seed=5))
    files = write_world(world, directory, corrupt_fraction=0.08, seed=3)
    assert files.corrupt_rows > 100
    return directory


def test_the_corrupt_synthetic_world_loads_as_the_row_by_row_loader_did(
    corrupt_world: Path, tmp_path: Path
) -> None:
    rejected = assert_same_loads(
        lambda: read_directory(corrupt_world), tmp_path, 1000, now=WORLD_NOW
    )
    assert rejected > 100


def _edit(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(edit(path.read_bytes().splitlines(keepends=True))))


def test_every_case_the_fast_csv_split_hands_over(
    corrupt_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in"
    data.mkdir()
    for name in ("users.csv", "items.csv", "friendships.csv", "interactions.csv"):
        (data / name).write_bytes((corrupt_world / name).read_bytes())

    def users(lines: list[bytes]) -> list[bytes]:  # CRLF, blank and space-only lines
        lines = [line.replace(b"\n", b"\r\n") for line in lines]
        return [*lines[:5], b"\r\n", b"  \r\n", *lines[5:40], b"\r\n", *lines[40:]]

    def items(lines: list[bytes]) -> list[bytes]:  # non-ASCII, undecodable, wrong counts
        extra = [b"caf\xc3\xa9,c1,1.5,true\n", b"bad\xff,c1,2,true\n", b"short,c1\n"]
        extra += [b"i000,c9,3,no\n", b"i900,c9,nan,no\n", b"i901,c9, 7 ,NO\n"]
        return [*lines[:3], *extra, b"i-tab\t,c1,1,yes\n", b"x,y,1,true,extra\n", *lines[3:]]

    def friendships(lines: list[bytes]) -> list[bytes]:  # the csv module from a quote on
        # A mutual pair listed three times (the reverse listing is accepted once), a follow
        # listed both ways (two rows), a self-friendship.
        listed = [b"u590,u591,friend\n", b"u591,u590,friend\n", b"u591,u590,\n"]
        listed += [b"u592,u593,follow\n", b"u593,u592,follow\n", b"u594,u594,follow\n"]
        quoted = b'"u001","u002",friend\n"multi\nline",u003,follow\n"u591",u590,friend\n'
        half = len(lines) // 2
        return [*lines[:20], *listed, *lines[20:half], quoted, *lines[half:], b"u004,u005,friend"]

    def interactions(lines: list[bytes]) -> list[bytes]:  # ids with spaces, odd numbers
        odd = [
            b" u001,i001,view,1,1700000000\n",
            b"u001,i001,view,1e0,1700000000.5\n",
            b"u001,i001,view,2,1700000000\n",
            b"u002,i002,rating,+5,2023-01-01T00:00:00\n",
            b"u002,i002,rating,7,1700000000\n",
            b"u002,i002,rating,5,1672531200\n",
            b"u003,i003,VIEW,1,1700000000\n",
            b"u003,i003,view,,\n",
            b"u003,i003,view, ,\n",
            b"u003,ghost,view,1,1\n",
        ]
        return [*lines[:50], *odd, *lines[50:]]

    for name, edit in (
        ("users.csv", users),
        ("items.csv", items),
        ("friendships.csv", friendships),
        ("interactions.csv", interactions),
    ):
        _edit(data / name, edit)
    monkeypatch.setattr(columns, "BLOCK_BYTES", 4096)  # many blocks per file
    handed_over: list[str] = []

    def spy(path: Path, *args: object, **kwargs: object) -> object:
        if kwargs.get("offset") is not None:
            handed_over.append(path.name)
        return csv_rows(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(columns, "csv_rows", spy)
    assert_same_loads(lambda: read_directory(data), tmp_path, 333, now=WORLD_NOW)
    assert handed_over == ["friendships.csv"] * 2  # the other files were split by Arrow


@pytest.mark.skipif(not (LASTFM / "lastfm.inter").is_file(), reason="no shared Last.fm data")
def test_lastfm_recbole_with_mutual_links_loads_as_the_row_by_row_loader_did(
    tmp_path: Path,
) -> None:
    def sources() -> list[TableSource]:
        return read_recbole(LASTFM / "lastfm.inter", LASTFM / "lastfm.net", mutual=True)

    assert_same_loads(sources, tmp_path, 20_000, now=1_800_000_000)
