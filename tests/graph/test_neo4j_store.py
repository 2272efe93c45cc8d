"""Bolt-store specific tests against a real Bolt server (ArcadeDB locally, or the server named by
``SOCIALREC_TEST_NEO4J_*``): connection errors, a crash mid-load, and the round trip to a snapshot
equal to the SQLite one. The shared behaviour is in ``test_store_contract.py``."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.load import load_directory
from graph.neo4j_store import Neo4jStore
from graph.schema import User
from graph.sqlite_store import SQLiteStore
from graph.store import StoreCounts, StoreUnavailableError
from tests.bolt_server import (
    ArcadeServer,
    BoltTarget,
    clear_database,
    free_port,
    target_from_env,
)

NOW = 1_700_000_000


def write_world(directory: Path, *, users: int, items: int, interactions: int, seed: int) -> Path:
    """A synthetic input directory (format of ``graph.readers``) with a few bad rows."""
    rng = random.Random(seed)
    directory.mkdir(parents=True)
    user_ids = [f"u{n}" for n in range(users)]
    item_ids = [f"i{n}" for n in range(items)]
    with (directory / "users.csv").open("w", encoding="utf-8") as f:
        f.write("user_id,region,signup_ts\n")
        for n, uid in enumerate(user_ids):
            region = rng.choice(["eu", "us", ""])
            f.write(f"{uid},{region},{1_500_000_000 + n if n % 3 else ''}\n")
    with (directory / "items.csv").open("w", encoding="utf-8") as f:
        f.write("item_id,category,price,in_stock\n")
        for iid in item_ids:
            price = "" if rng.random() < 0.2 else f"{rng.uniform(1, 99):.2f}"
            f.write(
                f"{iid},{rng.choice(['shoes', 'hats', ''])},{price},{rng.choice(['yes', 'no'])}\n"
            )
    with (directory / "friendships.csv").open("w", encoding="utf-8") as f:
        f.write("user_id,friend_id,kind\n")
        for _ in range(users * 2):
            a, b = rng.sample(user_ids, 2)
            f.write(f"{a},{b},{rng.choice(['friend', 'follow'])}\n")
        f.write("u0,u0,friend\n")  # rejected: self loop
    with (directory / "interactions.csv").open("w", encoding="utf-8") as f:
        f.write("user_id,item_id,kind,value,ts\n")
        for _ in range(interactions):
            ts = "" if rng.random() < 0.1 else str(1_600_000_000 + rng.randrange(10_000))
            kind = rng.choice(["view", "click", "purchase"])
            f.write(f"{rng.choice(user_ids)},{rng.choice(item_ids)},{kind},1,{ts}\n")
        f.write("nobody,i0,view,1,\n")  # rejected: unknown user
    return directory


def sqlite_counts(world: Path, tmp_path: Path) -> StoreCounts:
    store = SQLiteStore(tmp_path / "expected.sqlite3")
    try:
        load_directory(store, world, tmp_path / "expected_report", now=NOW)
        return store.counts()
    finally:
        store.close()


def test_unreachable_server_is_a_clear_error() -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=r"cannot reach Neo4j at bolt://127\.0\.0\.1"):
        Neo4jStore(uri, "neo4j", "secret-pw-1", "neo4j", connection_timeout=2.0)


def test_wrong_credentials_are_a_clear_error(bolt_target: BoltTarget) -> None:
    wrong = "definitely-not-the-password"
    with pytest.raises(StoreUnavailableError, match="rejected the credentials") as caught:
        Neo4jStore(bolt_target.uri, bolt_target.user, wrong, bolt_target.database)
    assert wrong not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uri": ""}, "uri must be"),
        ({"database": ""}, "database must be"),
        ({"max_retry_time": 0.0}, "max_retry_time must be > 0, got 0.0"),
        ({"uri": "ftp://127.0.0.1:1"}, "uri is not a valid Bolt URI"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "uri": "bolt://127.0.0.1:1",
        "user": "u",
        "password": "p",
        "database": "neo4j",
    }
    with pytest.raises(ValueError, match=message):
        Neo4jStore(**{**args, **kwargs})  # type: ignore[arg-type]


def test_round_trip_equals_sqlite_snapshot(neo4j_store: Neo4jStore, tmp_path: Path) -> None:
    world = write_world(tmp_path / "world", users=60, items=40, interactions=500, seed=3)
    sqlite = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        expected_summary = load_directory(
            sqlite, world, tmp_path / "r_sqlite", batch_size=97, now=NOW
        )
        expected = export_snapshot(sqlite, tmp_path / "snap_sqlite")
    finally:
        sqlite.close()
    summary = load_directory(neo4j_store, world, tmp_path / "r_neo4j", batch_size=97, now=NOW)
    assert summary.rejected == expected_summary.rejected >= 2
    got = export_snapshot(neo4j_store, tmp_path / "snap_neo4j", batch_size=7)
    assert got.meta["source"] == "neo4j"
    assert got.fingerprint == expected.fingerprint
    assert got.user_ids == expected.user_ids
    assert got.item_ids == expected.item_ids
    for name in ("inter_user", "inter_item", "social_src", "social_dst", "social_kind"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    assert neo4j_store.counts() == StoreCounts(
        users=60, items=40, friendships=expected_friendships(got), interactions=len(got.inter_user)
    )


def test_routing_uri_works_unchanged(bolt_target: BoltTarget, tmp_path: Path) -> None:
    """A ``neo4j://`` routing URI (a cluster or Aura) loads and exports the same graph: writes
    go through ``execute_write`` and reads through ``execute_read``, so a cluster routes them."""
    if not bolt_target.uri.startswith("bolt://"):
        pytest.skip(f"the configured server uses {bolt_target.uri.split(':')[0]}:// already")
    routed = BoltTarget(
        "neo4j://" + bolt_target.uri.removeprefix("bolt://"),
        bolt_target.user,
        bolt_target.password,
        bolt_target.database,
    ).open_store()
    try:
        clear_database(routed)
        world = write_world(tmp_path / "world", users=30, items=20, interactions=200, seed=5)
        load_directory(routed, world, tmp_path / "report", now=NOW)
        got = export_snapshot(routed, tmp_path / "snap")
    finally:
        routed.close()
    sqlite = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        load_directory(sqlite, world, tmp_path / "r_sqlite", now=NOW)
        assert got.fingerprint == export_snapshot(sqlite, tmp_path / "snap_sqlite").fingerprint
    finally:
        sqlite.close()


def test_reads_run_in_read_transactions_and_writes_in_write_ones(
    neo4j_store: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What can be shown on one server: every read of the store runs in a read transaction
    (``execute_read``, which a cluster routes to readers) and every write in a write one.
    That a cluster then sends the reads to its readers is the driver's routing, not shown
    here (it needs a Neo4j cluster)."""
    modes: list[str] = []
    call = Neo4jStore._session_call

    def spy(self: Neo4jStore, mode: str, work: object) -> object:
        modes.append(mode)
        return call(self, mode, work)

    monkeypatch.setattr(Neo4jStore, "_session_call", spy)

    def modes_of(action: Callable[[], object]) -> set[str]:
        modes.clear()
        action()
        return set(modes)

    for read in (
        neo4j_store.counts,
        lambda: list(neo4j_store.iter_users()),
        lambda: list(neo4j_store.iter_interactions()),
        lambda: neo4j_store.existing_user_ids(["u1"]),
        lambda: neo4j_store.changes_since(0),
    ):
        assert modes_of(read) == {"read"}
    for write in (
        lambda: neo4j_store.upsert_users([User("u1")]),
        lambda: neo4j_store.write_events([User("u2")], []),
        lambda: neo4j_store.delete_user("u2"),
        lambda: neo4j_store.compact_changes(0),
    ):
        assert modes_of(write) == {"write"}


def test_client_killed_mid_load_then_rerun_gives_exact_counts(
    neo4j_store: Neo4jStore, bolt_target: BoltTarget, tmp_path: Path
) -> None:
    """Runs against any server, also an external one (``SOCIALREC_TEST_NEO4J_URI``): the
    client's connections are closed mid-load (the loader process dying), then the load is
    run again: the committed batches stay, and the re-run gives exact counts."""
    world = write_world(tmp_path / "world", users=60, items=40, interactions=900, seed=9)
    expected = sqlite_counts(world, tmp_path)
    store = bolt_target.open_store(max_retry_time=1.0)
    batches: list[str] = []

    def die_after_two_interaction_batches(table: str, rows: int) -> None:
        batches.append(table)
        if batches.count("interactions") == 2:
            store.close()

    with pytest.raises(Exception):  # noqa: B017 - whatever a closed driver raises
        load_directory(
            store,
            world,
            tmp_path / "r1",
            batch_size=200,
            now=NOW,
            progress=die_after_two_interaction_batches,
        )
    partial = neo4j_store.counts()
    assert partial.users == expected.users  # committed before the client died: kept
    assert 0 < partial.interactions < expected.interactions
    load_directory(neo4j_store, world, tmp_path / "r2", batch_size=200, now=NOW)
    assert neo4j_store.counts() == expected


def expected_friendships(snapshot: object) -> int:
    """Stored friendships: mutual ones appear twice in a snapshot's social arrays, follows once."""
    kinds = np.asarray(snapshot.social_kind)  # type: ignore[attr-defined]
    return int((kinds == 0).sum() // 2 + (kinds == 1).sum())


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArcadeServer]:
    """A local server this module may kill (never the shared or a configured one)."""
    if target_from_env() is not None:
        pytest.skip(
            "SOCIALREC_TEST_NEO4J_URI names an external server, which this test must not kill: "
            "the server-crash tests need the local ArcadeDB; "
            "test_client_killed_mid_load_then_rerun_gives_exact_counts ran instead"
        )
    server = ArcadeServer(tmp_path_factory.mktemp("fault") / "root")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_crash_mid_load_then_rerun_gives_exact_counts(
    own_server: ArcadeServer, tmp_path: Path
) -> None:
    world = write_world(tmp_path / "world", users=80, items=50, interactions=1_500, seed=7)
    expected = sqlite_counts(world, tmp_path)
    store = own_server.target.open_store(max_retry_time=1.0)
    batches: list[tuple[str, int]] = []

    def crash_after_two_interaction_batches(table: str, rows: int) -> None:
        batches.append((table, rows))
        if sum(t == "interactions" for t, _ in batches) == 2:
            own_server.kill()

    try:
        with pytest.raises(StoreUnavailableError, match="cannot reach Neo4j"):
            load_directory(
                store,
                world,
                tmp_path / "r1",
                batch_size=200,
                now=NOW,
                progress=crash_after_two_interaction_batches,
            )
    finally:
        store.close()
    own_server.start()
    store = own_server.target.open_store()
    try:
        partial = store.counts()
        assert partial.users == expected.users  # committed before the crash: kept
        assert 400 <= partial.interactions < expected.interactions
        load_directory(store, world, tmp_path / "r2", batch_size=200, now=NOW)
        assert store.counts() == expected
        load_directory(store, world, tmp_path / "r3", batch_size=200, now=NOW)
        assert store.counts() == expected
    finally:
        store.close()
