"""Export a store to a versioned snapshot directory (see :mod:`graph.snapshot`).

Store-agnostic: rows are paged through the store's ``iter_*`` methods, and
:func:`graph.snapshot.build_snapshot` sorts ids and edges, so any two stores holding the same
data export snapshots with the same content fingerprint.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from graph.snapshot import Snapshot, build_snapshot, write_snapshot
from graph.store import GraphStore, log_head

#: Progress hook: called with (table name, rows just read) after every page.
ExportProgress = Callable[[str, int], None]

_Row = TypeVar("_Row")


def _flatten(
    table: str, pages: Iterable[list[_Row]], progress: ExportProgress | None
) -> Iterator[_Row]:
    for page in pages:
        yield from page
        if progress is not None:
            progress(table, len(page))


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
    snapshot = build_snapshot(
        _flatten("users", store.iter_users(batch_size), progress),
        _flatten("items", store.iter_items(batch_size), progress),
        _flatten("friendships", store.iter_friendships(batch_size), progress),
        _flatten("interactions", store.iter_interactions(batch_size), progress),
        source=f"{store.kind}",
    )
    snapshot.meta["change_seq"] = head
    write_snapshot(snapshot, directory)
    return snapshot
