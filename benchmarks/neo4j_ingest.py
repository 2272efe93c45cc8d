"""Ingest benchmark for the Bolt store: batched UNWIND+MERGE vs one query per row, and export.

Uses the Bolt server named by ``SOCIALREC_TEST_NEO4J_URI/USER/PASSWORD/DATABASE``, else starts a
local ArcadeDB (tests/bolt_server.py). The data set is LastFM (``--lastfm DIR``, default
../shared/data/lastfm/hetrec2011), first validated into a temporary SQLite store so only the
database writes are timed; without the files, a synthetic world of 100k interactions is used.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.neo4j_ingest``. The last line is
``RESULT server=... rows=... rows_per_s_batched=... rows_per_s_per_row=... speedup=...
full_load_rows_per_s=... export_s=...``: the batched and per-row rates write the same ``--per-row``
interactions from the same state (nodes loaded, no relationships); ``full_load_rows_per_s`` counts
every relationship (friendships + interactions) of a batched load.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from neo4j import GraphDatabase

from graph.export import export_snapshot
from graph.load import load_tables
from graph.neo4j_store import Neo4jStore
from graph.readers import read_lastfm
from graph.schema import Friendship, Interaction, Item, User
from graph.sqlite_store import SQLiteStore

# The ArcadeDB launcher lives in tests/, which is not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.bolt_server import ArcadeServer, BoltTarget, clear_database, target_from_env

T = TypeVar("T")
DEFAULT_LASTFM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lastfm"


def _batched(store_write: Callable[[Sequence[T]], int], rows: list[T], size: int) -> None:
    for start in range(0, len(rows), size):
        store_write(rows[start : start + size])


def lastfm_rows(
    directory: Path, work: Path
) -> tuple[list[User], list[Item], list[Friendship], list[Interaction]]:
    """LastFM rows after validation (loaded once into a temporary SQLite store)."""
    sqlite = SQLiteStore(work / "lastfm.sqlite3")
    try:
        load_tables(sqlite, read_lastfm(directory), work / "report", now=int(time.time()))
        return (
            [r for page in sqlite.iter_users() for r in page],
            [r for page in sqlite.iter_items() for r in page],
            [r for page in sqlite.iter_friendships() for r in page],
            [r for page in sqlite.iter_interactions() for r in page],
        )
    finally:
        sqlite.close()


def synthetic_rows(
    seed: int,
) -> tuple[list[User], list[Item], list[Friendship], list[Interaction]]:
    """5k users, 10k items, 10k friendships, 100k interactions."""
    rng = random.Random(seed)
    users = [User(f"u{n:05d}", rng.choice(["eu", "us"]), 1_500_000_000 + n) for n in range(5_000)]
    items = [Item(f"i{n:05d}", "c", float(n % 50), True) for n in range(10_000)]
    pairs = {tuple(sorted(rng.sample(range(5_000), 2))) for _ in range(10_000)}
    friends = [Friendship(f"u{a:05d}", f"u{b:05d}") for a, b in sorted(pairs)]
    inter = {
        (rng.randrange(5_000), rng.randrange(10_000), rng.randrange(1_000)) for _ in range(100_000)
    }
    interactions = [
        Interaction(f"u{u:05d}", f"i{i:05d}", "view", 1.0, 1_600_000_000 + t)
        for u, i, t in sorted(inter)
    ]
    return users, items, friends, interactions


def _load_nodes(store: Neo4jStore, users: list[User], items: list[Item], batch_size: int) -> float:
    """Empty the database and load the nodes only; return the seconds it took."""
    clear_database(store)
    start = time.perf_counter()
    _batched(store.upsert_users, users, batch_size)
    _batched(store.upsert_items, items, batch_size)
    return time.perf_counter() - start


def run(store: Neo4jStore, data: Path | None, batch_size: int, per_row: int, work: Path) -> str:
    """Run the benchmark on an open store (its database is cleared first) and return RESULT.

    Like for like: the same ``per_row`` interactions are written one query per row and in batches,
    each time from the same starting state (all nodes, no relationships). The full batched load
    (friendships plus every interaction) is reported under its own name.
    """
    if data is not None:
        users, items, friends, interactions = lastfm_rows(data, work)
        print(f"data: LastFM at {data}")
    else:
        users, items, friends, interactions = synthetic_rows(seed=0)
        print("data: synthetic world (seed 0)")
    print(
        f"rows: users={len(users)} items={len(items)} friendships={len(friends)} "
        f"interactions={len(interactions)}"
    )
    subset = interactions[:per_row]

    _load_nodes(store, users, items, batch_size)
    start = time.perf_counter()
    for row in subset:
        store.upsert_interaction_single(row)
    per_row_rate = len(subset) / (time.perf_counter() - start)
    print(f"per-row: {len(subset)} interactions = {per_row_rate:,.0f}/s")

    _load_nodes(store, users, items, batch_size)
    start = time.perf_counter()
    _batched(store.upsert_interactions, subset, batch_size)
    batched_rate = len(subset) / (time.perf_counter() - start)
    print(f"batched: the same {len(subset)} interactions = {batched_rate:,.0f}/s")

    nodes_s = _load_nodes(store, users, items, batch_size)
    start = time.perf_counter()
    _batched(store.upsert_friendships, friends, batch_size)
    _batched(store.upsert_interactions, interactions, batch_size)
    relationships = len(friends) + len(interactions)
    full_rate = relationships / (time.perf_counter() - start)
    print(f"full load: {len(users) + len(items)} nodes in {nodes_s:.2f} s")
    print(f"full load: {relationships} relationships = {full_rate:,.0f}/s")
    print(f"counts after load: {store.counts()}")

    start = time.perf_counter()
    snapshot = export_snapshot(store, work / "snapshot")
    export_s = time.perf_counter() - start
    print(f"export: {export_s:.2f} s, fingerprint {snapshot.fingerprint[:16]}")
    return (
        f"rows={len(subset)} rows_per_s_batched={batched_rate:.0f} "
        f"rows_per_s_per_row={per_row_rate:.0f} speedup={batched_rate / per_row_rate:.1f} "
        f"full_load_rows_per_s={full_rate:.0f} export_s={export_s:.2f}"
    )


def server_name(target: BoltTarget) -> str:
    """The server's agent string (e.g. ``Neo4j/5.26.0``), without spaces, for the RESULT line."""
    with GraphDatabase.driver(target.uri, auth=(target.user, target.password)) as driver:
        return str(driver.get_server_info().agent).replace(" ", "_")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start (or reach) the Bolt server, run, print RESULT last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lastfm", type=Path, default=DEFAULT_LASTFM / "hetrec2011")
    parser.add_argument("--synthetic", action="store_true", help="Ignore LastFM, use synthetic.")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--per-row", type=int, default=2_000, help="Rows in the per-row subset.")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.per_row < 1:
        parser.error(
            f"--batch-size and --per-row must be >= 1, got {args.batch_size}, {args.per_row}"
        )
    data = (
        None if args.synthetic or not (args.lastfm / "user_artists.dat").is_file() else args.lastfm
    )

    with tempfile.TemporaryDirectory(prefix="neo4j_ingest_") as tmp:
        work = Path(tmp)
        target = target_from_env()
        server = None
        if target is None:
            server = ArcadeServer(work / "arcadedb")
            server.start()
            target = server.target
            print(f"server: local ArcadeDB on {target.uri}")
        else:
            print(f"server: {target.uri} (from SOCIALREC_TEST_NEO4J_URI)")
        try:
            store = target.open_store(max_retry_time=30.0)
            try:
                result = f"server={server_name(target)} " + run(
                    store, data, args.batch_size, args.per_row, work
                )
            finally:
                store.close()
        finally:
            if server is not None:
                server.stop()
    print(f"RESULT {result}")


if __name__ == "__main__":
    main()
