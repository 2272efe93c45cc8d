"""The serve log (:mod:`graph.serve_log`) in the SQLite store: tables ``serves``,
``serve_items`` (one row per served item, keyed by ``(serve_id, position)``) and
``attributions`` (keyed by the event ``(user_id, item_id, kind, ts)``), and ``campaigns``.

:class:`SQLiteServeLog` is a mixin of :class:`graph.sqlite_store.SQLiteStore`: it uses the
store's connection and transactions, and the store creates :data:`SERVE_LOG_SCHEMA` on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from graph.serve_log import Attribution, Serve, check_retention, check_serve

SERVE_LOG_SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS serves (
        serve_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        surface TEXT NOT NULL,
        model TEXT,
        experiment TEXT,
        variant TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS serves_by_user_ts ON serves (user_id, ts)",
    "CREATE INDEX IF NOT EXISTS serves_by_ts ON serves (ts, serve_id)",
    """CREATE TABLE IF NOT EXISTS serve_items (
        serve_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        PRIMARY KEY (serve_id, position)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS attributions (
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        serve_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        method TEXT NOT NULL,
        PRIMARY KEY (user_id, item_id, kind, ts)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS attributions_by_ts ON attributions (ts)",
    "CREATE INDEX IF NOT EXISTS attributions_by_serve ON attributions (serve_id)",
    """CREATE TABLE IF NOT EXISTS campaigns (
        campaign_id TEXT PRIMARY KEY NOT NULL,
        created_ts INTEGER NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS campaign_kols (
        campaign_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (campaign_id, user_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS campaign_kols_by_user ON campaign_kols (user_id)",
)

_SERVE_COLUMNS: Final[str] = "serve_id, user_id, ts, surface, model, experiment, variant"
_INSERT_SERVE: Final[str] = (
    f"INSERT INTO serves ({_SERVE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (serve_id) DO NOTHING"
)
_INSERT_ITEM: Final[str] = (
    "INSERT INTO serve_items (serve_id, position, item_id) VALUES (?, ?, ?) "
    "ON CONFLICT (serve_id, position) DO NOTHING"
)
_ATTRIBUTION_COLUMNS: Final[str] = "user_id, item_id, kind, ts, value, serve_id, position, method"
_UPSERT_ATTRIBUTION: Final[str] = (
    f"INSERT INTO attributions ({_ATTRIBUTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (user_id, item_id, kind, ts) DO UPDATE SET value = excluded.value, "
    "serve_id = excluded.serve_id, position = excluded.position, method = excluded.method"
)
_ITEMS_OF: Final[str] = (
    "SELECT serve_id, item_id FROM serve_items WHERE serve_id IN ({marks}) "
    "ORDER BY serve_id, position"
)
_SERVES_OF: Final[str] = f"SELECT {_SERVE_COLUMNS} FROM serves s WHERE ts >= ? AND ts <= ?"
#: Keeps the serves that showed one of some items (the primary key finds each serve's items).
_SHOWING: Final[str] = (
    " AND EXISTS (SELECT 1 FROM serve_items i WHERE i.serve_id = s.serve_id "
    "AND i.item_id IN ({marks}))"
)
#: Serves removed by compaction: older than the retention time, or beyond the newest N.
_EXPIRED: Final[str] = "SELECT serve_id FROM serves WHERE ts < ?"
_BEYOND_CAP: Final[str] = (
    "SELECT serve_id FROM serves ORDER BY ts DESC, serve_id DESC LIMIT -1 OFFSET ?"
)
_ID_CHUNK: Final[int] = 900
#: Users per serves_of query (the rest of _ID_CHUNK's parameters are items).
_USER_CHUNK: Final[int] = 300


def _chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[start : start + size] for start in range(0, len(unique), size)]


class SQLiteServeLog:
    """:class:`graph.serve_log.ServeLog` on the store's SQLite connection (a mixin)."""

    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[sqlite3.Connection]]

    def record_serves(self, serves: Sequence[Serve]) -> int:
        for serve in serves:
            check_serve(serve)
        with self._transaction() as conn:
            conn.executemany(
                _INSERT_SERVE,
                [
                    (s.serve_id, s.user_id, s.ts, s.surface, s.model, s.experiment, s.variant)
                    for s in serves
                ],
            )
            conn.executemany(
                _INSERT_ITEM,
                [(s.serve_id, n, item) for s in serves for n, item in enumerate(s.items, 1)],
            )
        return len(serves)

    def _with_items(self, rows: list[tuple[Any, ...]]) -> list[Serve]:
        """Serves from ``serves`` rows (in their order) with their items read."""
        items: dict[str, list[str]] = {}
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            query = _ITEMS_OF.format(marks=",".join("?" * len(chunk)))
            for serve_id, item_id in self._conn.execute(query, chunk):
                items.setdefault(serve_id, []).append(item_id)
        return [
            Serve(sid, user, int(ts), surface, tuple(items.get(sid, ())), model, exp, variant)
            for sid, user, ts, surface, model, exp, variant in rows
        ]

    def serves_by_id(self, serve_ids: Sequence[str]) -> list[Serve]:
        unique = list(set(serve_ids))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_SERVE_COLUMNS} FROM serves WHERE serve_id IN ({marks})"
            rows += self._conn.execute(query, chunk).fetchall()
        return self._with_items(rows)

    def serves_of(
        self,
        user_ids: Sequence[str],
        since_ts: int,
        until_ts: int,
        item_ids: Sequence[str] | None = None,
    ) -> list[Serve]:
        users = _chunks(user_ids, _USER_CHUNK)
        items = [None] if item_ids is None else _chunks(item_ids, _ID_CHUNK - _USER_CHUNK)
        rows: set[tuple[Any, ...]] = set()  # a serve showing items of two chunks comes twice
        for user_chunk in users:
            for item_chunk in items:
                query = f"{_SERVES_OF} AND user_id IN ({','.join('?' * len(user_chunk))})"
                if item_chunk is not None:
                    query += _SHOWING.format(marks=",".join("?" * len(item_chunk)))
                params = (since_ts, until_ts, *user_chunk, *(item_chunk or ()))
                rows.update(self._conn.execute(query, params).fetchall())
        return self._with_items(sorted(rows, key=lambda r: (r[2], r[0]), reverse=True))

    def record_attributions(self, rows: Sequence[Attribution]) -> int:
        with self._transaction() as conn:
            conn.executemany(
                _UPSERT_ATTRIBUTION,
                [
                    (a.user_id, a.item_id, a.kind, a.ts, a.value, a.serve_id, a.position, a.method)
                    for a in rows
                ],
            )
        return len(rows)

    def _keyset(
        self, columns: str, table: str, key: str, since_ts: int, batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``table`` with ``ts >= since_ts`` in pages ordered by ``key`` (``ts`` first)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        width = key.count(",") + 1
        marks = ", ".join("?" * width)
        first = f"SELECT {columns} FROM {table} WHERE ts >= ? ORDER BY {key} LIMIT ?"
        after = f"SELECT {columns} FROM {table} WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?"
        rows = self._conn.execute(first, (since_ts, batch_size)).fetchall()
        while rows:
            yield rows
            if len(rows) < batch_size:
                return
            last = [rows[-1][columns.split(", ").index(k)] for k in key.split(", ")]
            rows = self._conn.execute(after, (*last, batch_size)).fetchall()

    def iter_serves(self, since_ts: int = 0, batch_size: int = 10_000) -> Iterator[list[Serve]]:
        for page in self._keyset(_SERVE_COLUMNS, "serves", "ts, serve_id", since_ts, batch_size):
            yield self._with_items(page)

    def iter_attributions(
        self, since_ts: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[Attribution]]:
        key = "ts, user_id, item_id, kind"
        for page in self._keyset(_ATTRIBUTION_COLUMNS, "attributions", key, since_ts, batch_size):
            yield [
                Attribution(user, item, kind, int(ts), float(value), sid, int(pos), method)
                for user, item, kind, ts, value, sid, pos, method in page
            ]

    def compact_serves(self, before_ts: int, *, max_serves: int | None = None) -> int:
        check_retention(before_ts, max_serves)
        with self._transaction() as conn:
            conn.execute("DELETE FROM attributions WHERE ts < ?", (before_ts,))
            removed = _remove_serves(conn, _EXPIRED, before_ts)
            if max_serves is not None:
                removed += _remove_serves(conn, _BEYOND_CAP, max_serves)
        return removed

    def serve_counts(self) -> tuple[int, int]:
        serves = self._conn.execute("SELECT COUNT(*) FROM serves").fetchone()[0]
        attributions = self._conn.execute("SELECT COUNT(*) FROM attributions").fetchone()[0]
        return int(serves), int(attributions)

    def record_campaign(
        self, campaign_id: str, created_ts: int, kols: Sequence[str], body: str
    ) -> None:
        with self._transaction() as conn:
            added = conn.execute(
                "INSERT INTO campaigns (campaign_id, created_ts, body) VALUES (?, ?, ?) "
                "ON CONFLICT (campaign_id) DO NOTHING",
                (campaign_id, created_ts, body),
            ).rowcount
            if added:
                conn.executemany(
                    "INSERT INTO campaign_kols (campaign_id, user_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [(campaign_id, kol) for kol in kols],
                )

    def campaign_bodies(self, campaign_id: str | None = None) -> list[str]:
        if campaign_id is not None:
            query = "SELECT body FROM campaigns WHERE campaign_id = ?"
            return [b for (b,) in self._conn.execute(query, (campaign_id,))]
        query = "SELECT body FROM campaigns ORDER BY created_ts, campaign_id"
        return [b for (b,) in self._conn.execute(query)]

    @staticmethod
    def _purge_serves(conn: sqlite3.Connection, user_id: str) -> None:
        """Remove ``user_id``'s serves and attributions, and the campaigns naming them as a
        KOL (inside the deletion's transaction)."""
        conn.execute("DELETE FROM attributions WHERE user_id = ?", (user_id,))
        _remove_serves(conn, "SELECT serve_id FROM serves WHERE user_id = ?", user_id)
        named = "SELECT campaign_id FROM campaign_kols WHERE user_id = ?"
        for table in ("campaigns", "campaign_kols"):
            # ``table`` and ``named`` are literals of this module, never user input.
            conn.execute(f"DELETE FROM {table} WHERE campaign_id IN ({named})", (user_id,))


def _remove_serves(conn: sqlite3.Connection, select: str, param: object) -> int:
    """Delete the serves ``select`` picks, with their items and attributions; returns how many."""
    for table in ("attributions", "serve_items"):
        # ``table`` and ``select`` are literals of this module, never user input.
        conn.execute(f"DELETE FROM {table} WHERE serve_id IN ({select})", (param,))
    return int(conn.execute(f"DELETE FROM serves WHERE serve_id IN ({select})", (param,)).rowcount)
