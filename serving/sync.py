"""Replicas converge: every API process applies the live writes logged in the shared store.

A live write (``POST /events`` users and interactions, ``DELETE /users/{id}``) goes to the
store's change log in the same transaction as the write itself, numbered by one sequence
shared by every process on that store (:meth:`graph.store.GraphStore.write_events`,
:meth:`~graph.store.GraphStore.delete_user`). The process that took the request applies it to
its own live graph at once; every process (that one included) runs a :class:`ChangeSync`,
which every ``SOCIALREC_SYNC_INTERVAL_S`` seconds reads the writes logged after its watermark
and applies them in sequence order with :func:`serving.writes.apply_change`, through the same
functions the write routes use. Applying is idempotent (interactions the live graph already holds
are skipped, deleting twice is deleting once), so re-reading its own writes, or replaying the
whole log after a restart, counts nothing twice. Replicas are eventually consistent: another
replica sees a write within about one interval. A replica starts reading after its snapshot's
``change_seq`` (:func:`graph.export.export_snapshot` records the log head it exported at), so
the log only needs the writes since the oldest snapshot in use: ``socialrec export`` compacts
the older ones away (:meth:`graph.store.GraphStore.compact_changes`), keeping deletions. A
starting server reads the log once before it serves (the lifespan in :mod:`api.app`), so
deletions hold from its first answer.

A page of changes is read and applied in one hold of the write lock
(:meth:`serving.writes.StateHolder.write`), like a write route, so no local write or reload
falls between the read and the apply: a user deleted here cannot
come back from a page read before the deletion, and pages read after it no longer hold the
user's rows (the deletion purged them from the log).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Final

from graph.store import Change, ChangePage, GraphStore, StoreUnavailableError
from serving.events import StoreGateway
from serving.state import AppState
from serving.writes import StateHolder, StateNotLoadedError, apply_change

_log = logging.getLogger(__name__)

#: Writes read (and applied under the write lock) at a time.
PAGE_SIZE: Final[int] = 20


def _read(after: int, limit: int, store: GraphStore) -> ChangePage:
    return store.changes_since(after, limit)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Where a replica stands in the change log (sequence numbers only, no personal data)."""

    enabled: bool
    interval_s: float
    #: Every logged write up to this number has been applied here.
    watermark: int
    #: The log's last number at the last read (``None``: not read yet).
    head: int | None
    #: Seconds since the last read that reached the head (``None``: never).
    since_success_s: float | None

    @property
    def lag(self) -> int | None:
        """Writes logged but not applied here, as of the last read."""
        return None if self.head is None else max(self.head - self.watermark, 0)


class ChangeSync:
    """Applies the store's change log to the served state, in a background thread.

    Args:
        gateway: The API's store gateway (reads run on its store thread).
        holder: The state being served and its write lock (serialises live writes, reloads
            and this).
        interval_s: Seconds between reads; ``0`` disables the thread (:meth:`run_once` still
            works).
        page_size: Writes read and applied per lock hold.
    """

    def __init__(
        self,
        gateway: StoreGateway,
        holder: StateHolder,
        *,
        interval_s: float,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if interval_s < 0:
            raise ValueError(f"interval_s must be >= 0 (0 disables), got {interval_s}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self._gateway = gateway
        self._holder = holder
        self._interval_s = interval_s
        self._page_size = page_size
        self._watermark = 0
        self._head: int | None = None
        self._success_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def skip_to(self, seq: int) -> None:
        """Start reading the log after ``seq`` (a snapshot's ``meta["change_seq"]``: it holds
        every write logged up to there, so a replica serving it need not replay them)."""
        self._watermark = max(self._watermark, seq)

    def status(self) -> SyncStatus:
        success = self._success_at
        return SyncStatus(
            enabled=self._thread is not None,
            interval_s=self._interval_s,
            watermark=self._watermark,
            head=self._head,
            since_success_s=None if success is None else time.monotonic() - success,
        )

    def run_once(self) -> int:
        """Read and apply every write logged after the watermark; returns how many were applied.

        Raises:
            StoreUnavailableError: if the store cannot be read (the watermark keeps what was
                applied before).
        """
        applied = 0
        while not self._stop.is_set():  # stop() ends a long replay between pages
            try:
                page = self._holder.write(self._read_and_apply)
            except StateNotLoadedError:
                return applied
            if page is None:
                continue  # a new store: read again from the start
            applied += len(page.changes)
            if page.upto == page.head:
                self._success_at = time.monotonic()
                return applied
            time.sleep(0)  # let a write waiting for the lock take it between pages
        return applied

    def _read_and_apply(self, state: AppState) -> ChangePage | None:
        """Read the page after the watermark and apply it (under the write lock); ``None``
        when the log restarts below the watermark (the watermark goes back to 0)."""
        after = self._watermark
        page: ChangePage = self._gateway.call(partial(_read, after, self._page_size))
        self._head = page.head
        if page.head < after:
            _log.warning(
                "the change log restarts below the watermark (%d < %d): a new store; "
                "replaying it from the start",
                page.head,
                after,
            )
            self._watermark = 0
            return None
        for change in page.changes:
            self._apply(state, change)
        self._watermark = page.upto
        return page

    @staticmethod
    def _apply(state: AppState, change: Change) -> None:
        """Apply one change; one that fails is logged (by number and error type: messages may
        hold ids) and skipped, so it cannot stop this replica from taking later ones."""
        try:
            apply_change(state, change)
        except Exception as exc:
            _log.error("change %d not applied (%s); skipped", change.seq, type(exc).__name__)

    def start(self) -> None:
        """Start the background thread (nothing when the interval is 0)."""
        if self._interval_s == 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="socialrec-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, waiting for the page in progress to be applied."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._tick()
            self._stop.wait(self._interval_s)

    def _tick(self) -> None:
        """One round, skipped while the store is down (the gateway logs that and ``/health``
        shows it); errors are logged by type only (their messages may hold ids)."""
        if not self._gateway.health().available:
            return
        try:
            applied = self.run_once()
        except StoreUnavailableError:
            return  # recorded by the gateway; the next round retries
        except Exception as exc:  # the thread must outlive any one failure
            _log.error(
                "change sync failed after change %d (%s); retrying in %g s",
                self._watermark,
                type(exc).__name__,
                self._interval_s,
            )
            return
        if applied:
            _log.info("change sync applied %d writes (watermark %d)", applied, self._watermark)
