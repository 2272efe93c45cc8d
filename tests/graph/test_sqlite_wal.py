"""The SQLite store's WAL file shrinks back after a long read (an export) let it grow."""

from __future__ import annotations

from pathlib import Path

import pytest

import graph.sqlite_store
from graph.schema import User
from graph.sqlite_store import SQLiteStore


def test_the_wal_is_cut_back_after_an_export_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 64 * 1024
    monkeypatch.setattr(graph.sqlite_store, "WAL_SIZE_LIMIT_BYTES", limit)
    path = tmp_path / "graph.sqlite3"
    writer, exporter = SQLiteStore(path), SQLiteStore(path)
    wal = path.with_name(path.name + "-wal")
    try:
        with exporter.export_read():
            for batch in range(40):  # written while the export's snapshot holds the WAL
                writer.upsert_users([User(f"u{batch}-{n}", "r" * 200) for n in range(500)])
            grown = wal.stat().st_size
        assert grown > 4 * 1024 * 1024  # past SQLite's automatic checkpoint (1,000 pages)
        for n in range(3):  # checkpoints pass now, and the next write restarts the WAL
            writer.upsert_users([User(f"after-{n}")])
        assert wal.stat().st_size <= limit
        assert writer.counts().users == 40 * 500 + 3
    finally:
        writer.close()
        exporter.close()
