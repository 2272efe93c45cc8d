"""The embedded default store: one SQLite file (stdlib ``sqlite3``, WAL mode).

Every table has a primary key and every write is an ``INSERT ... ON CONFLICT DO UPDATE``
upsert sent with ``executemany`` in one transaction per batch, so re-sending rows changes
nothing. Reads page through the primary-key index with keyset pagination (``WHERE key > last
ORDER BY key LIMIT n``), so exporting millions of rows never holds more than one page.

The change log (see :mod:`graph.store`) is the ``changes`` table keyed by ``(seq, pos)``; the
sequence is the one row of ``change_seq``, incremented inside each logging transaction. SQLite
lets one writer at a time commit, so sequence numbers become visible in increasing order to
every process sharing the file (WAL mode lets them read meanwhile).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.schema import UNKNOWN_TS, Friendship, Interaction, Item, User, canonical_friendship
from graph.snapshot import CODED_FRIENDSHIP, CODED_INTERACTION, CODED_KINDS
from graph.sqlite_serve_log import SERVE_LOG_SCHEMA, SQLiteServeLog
from graph.store import (
    CHANGE_FIELDS,
    ChangePage,
    InteractionKey,
    StoreCounts,
    StoreUnavailableError,
    change_rows,
    changed_rows,
    changes_from_rows,
    check_compaction,
    check_page_request,
    deletion_row,
)

#: Ids per ``IN (...)`` query: below SQLite's historic 999 bound-parameter limit.
_ID_CHUNK: Final[int] = 900

#: Seconds a connection waits for another connection's write lock before "database is locked".
_BUSY_TIMEOUT_S: Final[float] = 30.0

_FRIENDSHIPS_BY_FRIEND: Final[str] = (
    "CREATE INDEX IF NOT EXISTS friendships_by_friend ON friendships (friend_id)"
)
_SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY NOT NULL,
        region TEXT,
        signup_ts INTEGER NOT NULL,
        private INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS items (
        id TEXT PRIMARY KEY NOT NULL,
        category TEXT,
        price REAL,
        in_stock INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS friendships (
        user_id TEXT NOT NULL,
        friend_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (user_id, friend_id, kind)
    ) WITHOUT ROWID""",
    _FRIENDSHIPS_BY_FRIEND,
    """CREATE TABLE IF NOT EXISTS interactions (
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (user_id, item_id, kind, ts)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS change_seq (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        op TEXT NOT NULL,
        user_id TEXT NOT NULL,
        item_id TEXT,
        kind TEXT,
        ts INTEGER,
        value REAL,
        region TEXT,
        signup_ts INTEGER,
        private INTEGER,
        PRIMARY KEY (seq, pos)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS changes_by_user ON changes (user_id)",
    *SERVE_LOG_SCHEMA,
)

# An absent field (region NULL, signup_ts -1) keeps the stored value (issue 20.4).
_UPSERT_USER: Final[str] = (
    "INSERT INTO users (id, region, signup_ts, private) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET region = coalesce(excluded.region, users.region), "
    f"signup_ts = CASE excluded.signup_ts WHEN {UNKNOWN_TS} THEN users.signup_ts "
    "ELSE excluded.signup_ts END, private = coalesce(excluded.private, users.private)"
)
#: Columns added since the first schema: (table, column, type), added to older files on open.
_ADDED_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("users", "private", "INTEGER"),
    ("changes", "private", "INTEGER"),
)
_UPSERT_ITEM: Final[str] = (
    "INSERT INTO items (id, category, price, in_stock) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET category = excluded.category, price = excluded.price, "
    "in_stock = excluded.in_stock"
)
_UPSERT_FRIENDSHIP: Final[str] = (
    "INSERT INTO friendships (user_id, friend_id, kind) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id, friend_id, kind) DO NOTHING"
)
_UPSERT_INTERACTION: Final[str] = (
    "INSERT INTO interactions (user_id, item_id, kind, ts, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (user_id, item_id, kind, ts) DO UPDATE SET value = excluded.value"
)

_NEXT_SEQ: Final[str] = (
    "INSERT INTO change_seq (id, seq) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET seq = seq + 1 RETURNING seq"
)
_HEAD: Final[str] = "SELECT COALESCE(MAX(seq), 0) FROM change_seq"
_COMPACT: Final[str] = "DELETE FROM changes WHERE seq <= ?"
_COMPACT_KEEPING_DELETIONS: Final[str] = "DELETE FROM changes WHERE seq <= ? AND op != 'delete'"
_LOG_CHANGE: Final[str] = (
    f"INSERT INTO changes (seq, pos, {', '.join(CHANGE_FIELDS)}) "
    f"VALUES (:seq, :pos, {', '.join(':' + f for f in CHANGE_FIELDS)})"
)
_USER_ROWS: Final[str] = "SELECT id, region, signup_ts, private FROM users"
_INTERACTION_VALUE: Final[str] = (
    "SELECT value FROM interactions WHERE user_id = ? AND item_id = ? AND kind = ? AND ts = ?"
)
_CHANGE_SEQS: Final[str] = (
    "SELECT DISTINCT seq FROM changes WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
_CHANGES: Final[str] = (
    f"SELECT seq, pos, {', '.join(CHANGE_FIELDS)} FROM changes "
    "WHERE seq > ? AND seq <= ? ORDER BY seq, pos"
)

_BULK_UPSERTS: Final[dict[str, str]] = {
    "users": _UPSERT_USER,
    "items": _UPSERT_ITEM,
    "friendships": _UPSERT_FRIENDSHIP,
    "interactions": _UPSERT_INTERACTION,
}
#: Per table: the columns of a bulk read (in ``_BULK_UPSERTS`` order) and the key.
_BULK_READS: Final[dict[str, tuple[str, str]]] = {
    "users": ("id, region, signup_ts, private", "id"),
    "items": ("id, category, price, in_stock", "id"),
    "friendships": ("user_id, friend_id, kind", "user_id, friend_id, kind"),
    "interactions": ("user_id, item_id, kind, ts, value", "user_id, item_id, kind, ts"),
}
#: Tables whose bulk rows are staged and merged in key order (:meth:`SQLiteStore.bulk_load`).
_STAGED: Final[tuple[str, ...]] = ("friendships", "interactions")
# ``table`` and ``columns`` are literals of this module, never user input.
_STAGE_TABLE: Final[str] = "CREATE TEMP TABLE IF NOT EXISTS stage_{table} ({columns})"
_STAGE_ROWS: Final[dict[str, str]] = {
    "friendships": "INSERT INTO temp.stage_friendships VALUES (?, ?, ?)",
    "interactions": "INSERT INTO temp.stage_interactions VALUES (?, ?, ?, ?, ?)",
}
#: Staged rows into their table in key order (``rowid``: rows of one key in the order sent).
_MERGE_STAGED: Final[dict[str, str]] = {
    "friendships": _UPSERT_FRIENDSHIP.replace(
        "VALUES (?, ?, ?)",
        "SELECT user_id, friend_id, kind FROM temp.stage_friendships WHERE true "
        "ORDER BY user_id, friend_id, kind, rowid",
    ),
    "interactions": _UPSERT_INTERACTION.replace(
        "VALUES (?, ?, ?, ?, ?)",
        "SELECT user_id, item_id, kind, ts, value FROM temp.stage_interactions WHERE true "
        "ORDER BY user_id, item_id, kind, ts, rowid",
    ),
}
#: Per staged table: its secondary indexes (name, CREATE statement of ``_SCHEMA``).
_INDEXES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "friendships": (("friendships_by_friend", _FRIENDSHIPS_BY_FRIEND),),
    "interactions": (),
}
_ANY_ROW: Final[dict[str, str]] = {table: f"SELECT 1 FROM {table} LIMIT 1" for table in _STAGED}
#: Page cache (MiB) of a connection during a bulk load (:meth:`SQLiteStore.bulk_load`). It
#: also sizes the sorted runs of the merge's sorter: runs of a few MiB, sorted in CPU cache and
#: merged from temp files, sort 3.7M staged interactions in 2.9 s where 256 MiB runs took 5.0 s
#: (100k world, 1 to 4 MiB measured alike).
BULK_CACHE_MB: Final[int] = 4
#: Helper threads of SQLite's sorter during a bulk load (``PRAGMA threads``): with one, runs are
#: sorted beside the scan that fills them (100k world, whole load: median 16.0 s against 17.2 s
#: without, alternating runs).
BULK_SORT_THREADS: Final[int] = 1
#: Size (bytes) the WAL file is cut back to when SQLite restarts it after a checkpoint
#: (``PRAGMA journal_size_limit``). A long read, an export, keeps checkpoints from passing it,
#: so the WAL grows with every write meanwhile; without a limit the file keeps that size for
#: good. Above the ~4 MiB that automatic checkpoints keep it at otherwise.
WAL_SIZE_LIMIT_BYTES: int = 64 * 1024 * 1024


def _kind_code(column: str, kinds: tuple[str, ...]) -> str:
    """SQL: the index of ``column``'s value in ``kinds`` (-1 when not there)."""
    cases = " ".join(f"WHEN '{kind}' THEN {n}" for n, kind in enumerate(kinds))
    return f"CASE {column} {cases} ELSE -1 END"


#: An export's ranks: users and items numbered in id order (:meth:`SQLiteStore.export_read`).
_RANKS: Final[dict[str, tuple[str, str]]] = {
    table: (
        f"CREATE TEMP TABLE export_{table} (id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) "
        "WITHOUT ROWID",
        f"INSERT INTO temp.export_{table} SELECT id, row_number() OVER (ORDER BY id) - 1 "
        f"FROM {table} ORDER BY id",
    )
    for table in ("users", "items")
}
#: Edges with users and items as ranks and kinds as codes (-1: none), for
#: :func:`graph.snapshot.build_snapshot_from_coded`.
_CODED: Final[dict[str, tuple[str, np.dtype[Any]]]] = {
    "friendships": (
        "SELECT coalesce(a.n, -1), coalesce(b.n, -1), "
        f"{_kind_code('f.kind', CODED_KINDS['friendships'])} FROM friendships f "
        "LEFT JOIN temp.export_users a ON a.id = f.user_id "
        "LEFT JOIN temp.export_users b ON b.id = f.friend_id",
        CODED_FRIENDSHIP,
    ),
    "interactions": (
        "SELECT coalesce(u.n, -1), coalesce(i.n, -1), "
        f"{_kind_code('x.kind', CODED_KINDS['interactions'])}, x.ts, x.value FROM interactions x "
        "LEFT JOIN temp.export_users u ON u.id = x.user_id "
        "LEFT JOIN temp.export_items i ON i.id = x.item_id",
        CODED_INTERACTION,
    ),
}


def _user_row(user: User) -> tuple[Any, ...]:
    return (user.user_id, user.region, user.signup_ts, user.private)


def _user_of(user_id: str, region: str | None, signup_ts: int, private: int | None) -> User:
    return User(user_id, region, signup_ts, None if private is None else bool(private))


class SQLiteStore(SQLiteServeLog):
    """A :class:`graph.store.GraphStore` in one SQLite database file.

    Args:
        path: The database file; created (with its parent directory) if missing.

    Raises:
        StoreUnavailableError: if the file cannot be opened as a SQLite database.
    """

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: Tables with rows staged by :meth:`upsert_rows` (``None``: not in a bulk load).
        self._staging: set[str] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Writers from other processes wait up to _BUSY_TIMEOUT_S for the write lock.
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(f"PRAGMA journal_size_limit = {int(WAL_SIZE_LIMIT_BYTES)}")
            with self._transaction():
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                self._add_columns()
        except (OSError, sqlite3.DatabaseError) as exc:
            raise StoreUnavailableError(
                f"cannot open the SQLite store at {self.path}: {exc}"
            ) from exc

    def _add_columns(self) -> None:
        """Add the columns of ``_ADDED_COLUMNS`` that a file made by an older version lacks."""
        for table, column, kind in _ADDED_COLUMNS:
            # ``table``/``column``/``kind`` are literals of this module, never user input.
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a write one takes the write lock up front (``BEGIN IMMEDIATE``).

        A deferred transaction that reads and then writes cannot wait for the lock in WAL mode:
        if another writer committed in between, SQLite fails it at once with "database is locked".
        """
        self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _write(self, statement: str, params: Sequence[tuple[Any, ...]]) -> int:
        with self._transaction() as conn:
            conn.executemany(statement, params)
        return len(params)

    def upsert_users(self, rows: Sequence[User]) -> int:
        return self._write(_UPSERT_USER, [_user_row(u) for u in rows])

    def upsert_rows(self, table: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Bulk load: upsert validated rows of ``table`` given as tuples in the store's column
        order (:data:`graph.validate.StoreRow`; friendships canonical), in one transaction.
        Inside :meth:`bulk_load`, friendships and interactions are staged instead (see there).
        """
        staging = self._staging
        if table in _STAGED and staging is not None:
            with self._transaction(write=False) as conn:  # the temp database only
                conn.execute(_STAGE_TABLE.format(table=table, columns=_BULK_READS[table][0]))
                conn.executemany(_STAGE_ROWS[table], rows)
            staging.add(table)
            return len(rows)
        return self._write(_BULK_UPSERTS[table], rows)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A bulk load: a page cache of :data:`BULK_CACHE_MB` and :data:`BULK_SORT_THREADS`
        sorter threads (both restored after), and friendships and
        interactions from :meth:`upsert_rows` staged in temporary tables, then upserted into
        their tables in key order, one transaction per table, when the load ends (an error
        before then writes none of them). In key order each B-tree page is written about
        once, where batches in file order rewrote most pages at every commit."""
        (before,) = self._conn.execute("PRAGMA cache_size").fetchone()
        (threads_before,) = self._conn.execute("PRAGMA threads").fetchone()
        self._conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_MB * 1024}")
        self._conn.execute(f"PRAGMA threads = {BULK_SORT_THREADS}")
        staging = self._staging = set()
        try:
            yield
            for table in _STAGED:
                if table in staging:
                    with self._transaction() as conn:
                        self._merge_staged(conn, table)
        finally:
            for table in staging:
                self._conn.execute(f"DROP TABLE IF EXISTS temp.stage_{table}")
            self._staging = None
            self._conn.execute(f"PRAGMA cache_size = {int(before)}")
            self._conn.execute(f"PRAGMA threads = {int(threads_before)}")

    @staticmethod
    def _merge_staged(conn: sqlite3.Connection, table: str) -> None:
        """Upsert a staged table in key order; into an empty table, its secondary indexes
        are built once afterwards instead of row by row."""
        rebuilt = _INDEXES[table] if conn.execute(_ANY_ROW[table]).fetchone() is None else ()
        for name, _ in rebuilt:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(_MERGE_STAGED[table])
        for _, create in rebuilt:
            conn.execute(create)

    def upsert_items(self, rows: Sequence[Item]) -> int:
        return self._write(
            _UPSERT_ITEM, [(i.item_id, i.category, i.price, int(i.in_stock)) for i in rows]
        )

    def upsert_friendships(self, rows: Sequence[Friendship]) -> int:
        canonical = (canonical_friendship(f) for f in rows)
        return self._write(
            _UPSERT_FRIENDSHIP, [(f.user_id, f.friend_id, f.kind) for f in canonical]
        )

    def upsert_interactions(self, rows: Sequence[Interaction]) -> int:
        return self._write(
            _UPSERT_INTERACTION,
            [(r.user_id, r.item_id, r.kind, r.ts, r.value) for r in rows],
        )

    def _users_by_id(self, ids: Iterable[str]) -> list[User]:
        unique = list(set(ids))
        found: list[User] = []
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            query = f"{_USER_ROWS} WHERE id IN ({','.join('?' * len(chunk))})"
            found += [_user_of(*row) for row in self._conn.execute(query, chunk)]
        return found

    def _existing(self, table: str, ids: Iterable[str]) -> set[str]:
        unique = list(set(ids))
        found: set[str] = set()
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            # ``table`` is one of two literals (see below), never user input.
            query = f"SELECT id FROM {table} WHERE id IN ({marks})"
            found.update(row[0] for row in self._conn.execute(query, chunk))
        return found

    def existing_user_ids(self, user_ids: Iterable[str]) -> set[str]:
        return self._existing("users", user_ids)

    def existing_item_ids(self, item_ids: Iterable[str]) -> set[str]:
        return self._existing("items", item_ids)

    def delete_user(self, user_id: str) -> bool:
        with self._transaction() as conn:
            conn.execute("DELETE FROM friendships WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM friendships WHERE friend_id = ?", (user_id,))
            conn.execute("DELETE FROM interactions WHERE user_id = ?", (user_id,))
            deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount
            conn.execute("DELETE FROM changes WHERE user_id = ?", (user_id,))
            self._purge_serves(conn, user_id)
            self._log(conn, [deletion_row(user_id)])
        return deleted > 0

    def write_events(self, users: Sequence[User], interactions: Sequence[Interaction]) -> int:
        if not users and not interactions:
            return 0
        with self._transaction() as conn:
            stored = {u.user_id: u for u in self._users_by_id(u.user_id for u in users)}
            values: dict[InteractionKey, float] = {}
            for r in interactions:
                key: InteractionKey = (r.user_id, r.item_id, r.kind, r.ts)
                found = conn.execute(_INTERACTION_VALUE, key).fetchone()
                if found is not None:
                    values[key] = float(found[0])
            users, interactions = changed_rows(users, interactions, stored, values)
            rows = change_rows(users, interactions)
            if not rows:
                return 0
            conn.executemany(_UPSERT_USER, [_user_row(u) for u in users])
            conn.executemany(
                _UPSERT_INTERACTION,
                [(r.user_id, r.item_id, r.kind, r.ts, r.value) for r in interactions],
            )
            return self._log(conn, rows)

    @staticmethod
    def _log(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> int:
        """Append one write's rows under the next sequence number (inside a transaction)."""
        ((seq,),) = conn.execute(_NEXT_SEQ).fetchall()  # fetch all: the statement completes
        conn.executemany(_LOG_CHANGE, [row | {"seq": seq} for row in rows])
        return int(seq)

    def compact_changes(self, upto: int, *, keep_deletions: bool = True) -> int:
        check_compaction(upto)
        query = _COMPACT_KEEPING_DELETIONS if keep_deletions else _COMPACT
        with self._transaction() as conn:
            return int(conn.execute(query, (upto,)).rowcount)

    def changes_since(self, after: int, limit: int = 100) -> ChangePage:
        check_page_request(after, limit)
        with self._transaction(write=False) as conn:  # one consistent read of head and rows
            head = int(conn.execute(_HEAD).fetchone()[0])
            seqs = [s for (s,) in conn.execute(_CHANGE_SEQS, (after, head, limit))]
            upto = seqs[-1] if len(seqs) == limit else head
            cursor = conn.execute(_CHANGES, (after, upto))
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor]
        return ChangePage(tuple(changes_from_rows(rows)), upto, head)

    def counts(self) -> StoreCounts:
        def count(table: str) -> int:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

        return StoreCounts(
            users=count("users"),
            items=count("items"),
            friendships=count("friendships"),
            interactions=count("interactions"),
        )

    def ping(self) -> None:
        try:
            self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the SQLite store at {self.path} failed: {exc}") from exc

    def _pages(
        self, columns: str, table: str, key: str, batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Keyset pagination over ``table`` ordered by the (composite) primary key ``key``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        width = key.count(",") + 1
        first = f"SELECT {columns} FROM {table} ORDER BY {key} LIMIT ?"
        marks = ", ".join("?" * width)
        after = f"SELECT {columns} FROM {table} WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?"
        rows = self._conn.execute(first, (batch_size,)).fetchall()
        while rows:
            yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1][:width]
            rows = self._conn.execute(after, (*last, batch_size)).fetchall()

    def iter_rows(self, table: str, batch_size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """Bulk export: pages of ``table``'s rows as tuples in the store's column order
        (:data:`graph.snapshot.RowPage`), ordered by key."""
        columns, key = _BULK_READS[table]
        yield from self._pages(columns, table, key, batch_size)

    @contextmanager
    def export_read(self) -> Iterator[None]:
        """One read transaction for an export: every page read inside sees the same data, and
        users and items are ranked in id order (temporary tables) for :meth:`iter_coded`."""
        with self._transaction(write=False) as conn:
            try:
                for create, fill in _RANKS.values():
                    conn.execute(create)
                    conn.execute(fill)
                yield
            finally:
                for table in _RANKS:
                    conn.execute(f"DROP TABLE IF EXISTS temp.export_{table}")

    def iter_coded(self, table: str, batch_size: int = 10_000) -> Iterator[NDArray[np.void]]:
        """Bulk export inside :meth:`export_read`: pages of friendships or interactions as
        numpy records (:data:`graph.snapshot.CODED_FRIENDSHIP` / ``CODED_INTERACTION``), users
        and items as their rank in id order, kinds as codes, -1 where there is none."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        query, dtype = _CODED[table]
        cursor = self._conn.execute(query)
        while page := cursor.fetchmany(batch_size):
            yield np.fromiter(page, dtype, len(page))

    def iter_users(self, batch_size: int = 10_000) -> Iterator[list[User]]:
        for page in self._pages("id, region, signup_ts, private", "users", "id", batch_size):
            yield [_user_of(*row) for row in page]

    def iter_items(self, batch_size: int = 10_000) -> Iterator[list[Item]]:
        for page in self._pages("id, category, price, in_stock", "items", "id", batch_size):
            yield [Item(iid, cat, price, bool(stock)) for iid, cat, price, stock in page]

    def iter_friendships(self, batch_size: int = 10_000) -> Iterator[list[Friendship]]:
        key = "user_id, friend_id, kind"
        for page in self._pages(key, "friendships", key, batch_size):
            yield [Friendship(u, f, kind) for u, f, kind in page]

    def iter_interactions(self, batch_size: int = 10_000) -> Iterator[list[Interaction]]:
        key = "user_id, item_id, kind, ts"
        for page in self._pages(f"{key}, value", "interactions", key, batch_size):
            yield [Interaction(u, i, kind, value, ts) for u, i, kind, ts, value in page]

    def close(self) -> None:
        self._conn.close()
