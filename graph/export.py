"""Export a store to a versioned snapshot directory (see :mod:`graph.snapshot`).

Store-agnostic: rows are paged through the store's ``iter_*`` methods (or, for a store with a
bulk read path (:class:`RowPages`), as pages of tuples without building schema objects), and
:func:`graph.snapshot.build_snapshot_from_pages` sorts ids and edges with numpy, so any two
stores holding the same data export snapshots with the same content fingerprint. A store that
also codes its edges itself (:class:`CodedEdges`, the SQLite store) is read in one read
transaction, its edges as numpy records of integer ranks
(:func:`graph.snapshot.build_snapshot_from_coded`): no Python object per edge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from graph.readers import TABLES
from graph.snapshot import (
    RowPage,
    Snapshot,
    build_snapshot_from_coded,
    build_snapshot_from_pages,
    write_snapshot,
)
from graph.store import GraphStore, log_head

#: Progress hook: called with (table name, rows just read) after every page.
ExportProgress = Callable[[str, int], None]
_Page = TypeVar("_Page", bound=Sized)


@runtime_checkable
class RowPages(Protocol):
    """A store that pages through a table's rows as tuples (:data:`graph.snapshot.RowPage`)."""

    def iter_rows(
        self, table: str, batch_size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]: ...


@runtime_checkable
class CodedEdges(Protocol):
    """A :class:`RowPages` store that reads an export in one transaction and pages through
    its edges as coded numpy records (:func:`graph.snapshot.build_snapshot_from_coded`)."""

    def export_read(self) -> AbstractContextManager[None]: ...

    def iter_coded(self, table: str, batch_size: int = 10_000) -> Iterator[NDArray[np.void]]: ...


def _as_tuples(store: GraphStore, table: str, batch_size: int) -> Iterator[RowPage]:
    """Pages of ``table`` as tuples, from the store's ``iter_*`` schema objects."""
    if table == "users":
        for users in store.iter_users(batch_size):
            yield [(u.user_id, u.region, u.signup_ts, u.private) for u in users]
    elif table == "items":
        for items in store.iter_items(batch_size):
            yield [(i.item_id, i.category, i.price, i.in_stock) for i in items]
    elif table == "friendships":
        for friendships in store.iter_friendships(batch_size):
            yield [(f.user_id, f.friend_id, f.kind) for f in friendships]
    else:
        for rows in store.iter_interactions(batch_size):
            yield [(r.user_id, r.item_id, r.kind, r.ts, r.value) for r in rows]


def _pages(
    store: GraphStore, table: str, batch_size: int, progress: ExportProgress | None
) -> Iterator[RowPage]:
    pages = (
        store.iter_rows(table, batch_size)
        if isinstance(store, RowPages)
        else _as_tuples(store, table, batch_size)
    )
    yield from _counted(pages, table, progress)


def _counted(
    pages: Iterable[_Page], table: str, progress: ExportProgress | None
) -> Iterator[_Page]:
    for page in pages:
        yield page
        if progress is not None:
            progress(table, len(page))


def _build(store: GraphStore, batch_size: int, progress: ExportProgress | None) -> Snapshot:
    """The snapshot of ``store``'s rows (coded edges where the store has them)."""
    source = f"{store.kind}"
    if isinstance(store, CodedEdges) and isinstance(store, RowPages):
        coded = store

        def edges(table: str) -> Iterator[NDArray[np.void]]:
            return _counted(coded.iter_coded(table, batch_size), table, progress)

        with coded.export_read():
            return build_snapshot_from_coded(
                _pages(store, "users", batch_size, progress),
                _pages(store, "items", batch_size, progress),
                edges("friendships"),
                edges("interactions"),
                source=source,
            )
    return build_snapshot_from_pages(
        *(_pages(store, table, batch_size, progress) for table in TABLES), source=source
    )


def export_snapshot(
    store: GraphStore,
    directory: str | os.PathLike[str],
    *,
    batch_size: int = 10_000,
    progress: ExportProgress | None = None,
) -> Snapshot:
    """Read every row of ``store`` page by page, build a snapshot and write it to ``directory``.

    Args:
        store: The store to export.
        directory: The snapshot directory (replaced atomically if it exists).
        batch_size: Rows per page read from the store.
        progress: Called with (table, rows read) after every page.

    Returns:
        The snapshot as written (``meta["source"]`` is the store kind, ``meta["change_seq"]``
        the change-log head read before the rows: every write logged up to it is in the
        snapshot, so a replica serving it starts reading the log after it).

    Raises:
        ValueError: if ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    head = log_head(store)  # before reading: every write logged up to here is in the export
    snapshot = _build(store, batch_size, progress)
    snapshot.meta["change_seq"] = head
    write_snapshot(snapshot, directory)
    return snapshot
