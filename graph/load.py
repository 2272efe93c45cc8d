"""Load validated tables into a store and write the rejects report and load summary.

Tables are loaded in dependency order (users, items, friendships, interactions) so that rows
can reference users and items accepted earlier in the same load. Each source is read and
validated column by column in batches of ``batch_size`` rows (:mod:`graph.columns`,
:mod:`graph.validate`); the accepted rows of a batch are written with the store's idempotent
upserts, so re-loading the same files changes nothing. A store with a bulk path
(:class:`BulkStore`, the SQLite store) takes each batch as tuples, inside its bulk-load context
(the SQLite store stages friendships and interactions and merges them in key order at the
end: :meth:`graph.sqlite_store.SQLiteStore.bulk_load`); other stores (Neo4j) take schema
objects in transactions of at most :data:`STORE_BATCH_ROWS` rows. Two files are written to
``report_dir``:

``rejects.csv``
    ``file,line,field,value,reason`` for every rejected row, in table and line order (header
    only when none).
``load_summary.json``
    per table: file, read, accepted, rejected, ignored columns; the store counts after the
    load; the duration in seconds; the rejects report path.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from graph.columns import source_batches
from graph.readers import TABLES, TableSource, read_directory
from graph.store import GraphStore, StoreCounts
from graph.validate import Rejection, StoreRow, Validator, to_schema

#: Progress hook: called with (table name, rows just processed) after every batch.
LoadProgress = Callable[[str, int], None]

#: Rows per validation batch by default (memory grows with it: see docs/loading.md).
DEFAULT_BATCH_ROWS: Final[int] = 100_000
#: Rows per write transaction of a store without a bulk path (the Neo4j store's batching).
STORE_BATCH_ROWS: Final[int] = 5000


@runtime_checkable
class BulkStore(Protocol):
    """A store that takes validated rows as tuples (:data:`graph.validate.StoreRow`)."""

    def upsert_rows(self, table: str, rows: Sequence[StoreRow]) -> int: ...

    def bulk_load(self) -> AbstractContextManager[None]: ...


@dataclass(slots=True)
class TableSummary:
    """What happened to one input file."""

    table: str
    file: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored_columns: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LoadSummary:
    """The outcome of one load (also written as ``load_summary.json``)."""

    tables: list[TableSummary]
    counts: StoreCounts
    duration_s: float
    rejects_path: Path
    summary_path: Path

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": [asdict(t) for t in self.tables],
            "store_counts": asdict(self.counts),
            "duration_s": round(self.duration_s, 3),
            "rejects_path": str(self.rejects_path),
        }


def _writer(store: GraphStore, table: str, batch_size: int) -> Callable[[list[StoreRow]], None]:
    """How the accepted rows of a batch of ``table`` reach ``store``."""
    if isinstance(store, BulkStore):
        bulk = store

        def write_bulk(rows: list[StoreRow]) -> None:
            if rows:
                bulk.upsert_rows(table, rows)

        return write_bulk
    upsert: Callable[[Sequence[Any]], int] = getattr(store, f"upsert_{table}")
    size = min(batch_size, STORE_BATCH_ROWS)

    def write(rows: list[StoreRow]) -> None:
        for start in range(0, len(rows), size):
            upsert([to_schema(table, row) for row in rows[start : start + size]])

    return write


def _load_source(
    store: GraphStore,
    source: TableSource,
    validator: Validator,
    report: Callable[[list[Rejection]], None],
    batch_size: int,
    progress: LoadProgress | None,
) -> TableSummary:
    summary = TableSummary(source.table, source.file, ignored_columns=list(source.ignored_columns))
    write = _writer(store, source.table, batch_size)
    for batch in source_batches(source, batch_size):
        accepted, rejected = validator.validate(source, batch)
        write(accepted)
        report(rejected)
        summary.read += len(batch)
        summary.accepted += len(accepted)
        summary.rejected += len(rejected)
        if progress is not None:
            progress(source.table, len(batch))
    return summary


def load_tables(
    store: GraphStore,
    sources: Sequence[TableSource],
    report_dir: str | os.PathLike[str],
    *,
    batch_size: int = DEFAULT_BATCH_ROWS,
    progress: LoadProgress | None = None,
    now: int | None = None,
) -> LoadSummary:
    """Validate and load ``sources`` into ``store``; write the reports to ``report_dir``.

    Args:
        store: The destination store.
        sources: Table sources (e.g. from :func:`graph.readers.read_directory`), loaded in
            table order users, items, friendships, interactions (stable within a table).
        report_dir: Directory for ``rejects.csv`` and ``load_summary.json`` (created).
        batch_size: Rows per validation batch (and per write transaction of a
            :class:`BulkStore`; other stores write at most :data:`STORE_BATCH_ROWS` at once).
        progress: Called with (table, rows processed) after every batch.
        now: Epoch seconds for the future-timestamp check (default: the clock).

    Raises:
        ValueError: if ``batch_size`` < 1 or a source names an unknown table.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for source in sources:
        if source.table not in TABLES:
            raise ValueError(f"source {source.file!r} has unknown table {source.table!r}")
    started = time.perf_counter()
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    rejects_path = out / "rejects.csv"
    validator = Validator(store, now=now)
    summaries: list[TableSummary] = []
    with rejects_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "line", "field", "value", "reason"))

        def report(rejected: list[Rejection]) -> None:
            writer.writerows((r.file, r.line, r.field, r.value, r.reason) for r in rejected)

        bulk = store.bulk_load() if isinstance(store, BulkStore) else nullcontext()
        with bulk:
            for source in sorted(sources, key=lambda s: TABLES.index(s.table)):
                summaries.append(
                    _load_source(store, source, validator, report, batch_size, progress)
                )
    result = LoadSummary(
        tables=summaries,
        counts=store.counts(),
        duration_s=time.perf_counter() - started,
        rejects_path=rejects_path,
        summary_path=out / "load_summary.json",
    )
    result.summary_path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    return result


def load_directory(
    store: GraphStore,
    directory: str | os.PathLike[str],
    report_dir: str | os.PathLike[str],
    *,
    batch_size: int = DEFAULT_BATCH_ROWS,
    progress: LoadProgress | None = None,
    now: int | None = None,
) -> LoadSummary:
    """Load an input directory (format: :mod:`graph.readers`) into ``store``.

    Every file's header is checked before anything is written.

    Raises:
        graph.readers.InputFormatError: if a table file is unusable (nothing is loaded).
        ValueError: if ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return load_tables(
        store,
        read_directory(directory),
        report_dir,
        batch_size=batch_size,
        progress=progress,
        now=now,
    )
