"""Live writes: the store gateway, the impression log and event validation.

* :class:`StoreGateway` runs every store call on one dedicated thread. Store handles are not
  shared across threads (SQLite connections are bound to the thread that opened them) and
  writes are serialised. The store is opened lazily and re-opened after a failure, so the API
  serves from its snapshot while the store is down and writes answer 503 until it is back.
  :meth:`StoreGateway.health` is the cached probe behind ``/health``.
* :class:`ImpressionLog` keeps feed impressions (what a user was shown, when) in a small
  SQLite file for frequency capping; the graph store has no impression table.
* :func:`validate_events` checks a batch like the loader does (:class:`graph.validate.Validator`:
  same rules, same messages) and returns the good rows plus one error per bad event.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeVar

from graph.readers import ID_COLUMNS, RawRow, TableSource
from graph.schema import Interaction, User
from graph.store import GraphStore, StoreUnavailableError
from graph.validate import Validator, parse_timestamp, shown

T = TypeVar("T")
_log = logging.getLogger(__name__)
IMPRESSION: Final[str] = "impression"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What the gateway last saw of the store: ``detail`` says why it is down."""

    available: bool
    detail: str | None
    #: ``time.monotonic()`` of the observation.
    checked_at: float


class StoreGateway:
    """All store calls of the API, on one worker thread.

    Every call also records whether the store answered; :meth:`health` returns that record,
    probing the store (:meth:`graph.store.GraphStore.ping`) when it is older than
    ``probe_ttl_s``.

    Args:
        opener: Opens the store (e.g. ``lambda: open_store(kind, settings)``); may raise
            :class:`StoreUnavailableError` or ``ValueError`` (misconfiguration).
        probe_ttl_s: Seconds a health observation is reused.
        probe_timeout_s: Seconds :meth:`health` waits for a probe; a store thread that does not
            answer in time (e.g. a write retrying against a dead server) counts as down.
    """

    def __init__(
        self,
        opener: Callable[[], GraphStore],
        *,
        probe_ttl_s: float = 2.0,
        probe_timeout_s: float = 1.0,
    ) -> None:
        if probe_ttl_s < 0 or probe_timeout_s <= 0:
            raise ValueError(
                f"probe_ttl_s must be >= 0 and probe_timeout_s > 0, got {probe_ttl_s} "
                f"and {probe_timeout_s}"
            )
        self._opener = opener
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socialrec-store")
        self._store: GraphStore | None = None
        self._probe_ttl_s = probe_ttl_s
        self._probe_timeout_s = probe_timeout_s
        self._health = StoreHealth(False, "not checked yet", -math.inf)
        self._probe: Future[None] | None = None
        self._probe_lock = threading.Lock()

    def _open(self) -> GraphStore:
        if self._store is None:
            try:
                self._store = self._opener()
            except (ValueError, OSError) as exc:
                raise StoreUnavailableError(f"cannot open the graph store: {exc}") from exc
        return self._store

    def _reset(self) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):  # a broken handle must not mask the cause
                self._store.close()
            self._store = None

    def _record(self, error: StoreUnavailableError | None) -> None:
        was = self._health.available
        self._health = StoreHealth(
            error is None, None if error is None else str(error), time.monotonic()
        )
        if error is not None and was:
            _log.warning("graph store unavailable: %s", error)
        elif error is None and not was:
            _log.info("graph store available")

    def _run(self, fn: Callable[[GraphStore], T]) -> T:
        """``fn(store)`` on the store thread; a failure drops the handle (re-opened next time)."""
        try:
            result = fn(self._open())
        except StoreUnavailableError as exc:
            self._reset()
            self._record(exc)
            raise
        except sqlite3.OperationalError as exc:
            self._reset()
            error = StoreUnavailableError(f"graph store error: {exc}")
            self._record(error)
            raise error from exc
        self._record(None)
        return result

    def call(self, fn: Callable[[GraphStore], T]) -> T:
        """Run ``fn(store)`` on the store thread and return its result.

        Raises:
            StoreUnavailableError: if the store cannot be opened or fails operationally (the
                handle is dropped and re-opened on the next call).
        """
        return self._executor.submit(self._run, fn).result()

    def health(self) -> StoreHealth:
        """The last observation of the store, probed again when older than ``probe_ttl_s``.

        One caller at a time probes; concurrent callers get the previous observation at once.
        """
        if time.monotonic() - self._health.checked_at < self._probe_ttl_s:
            return self._health
        with self._probe_lock:
            if self._probe is not None and not self._probe.done():
                return self._health  # another caller is waiting for it
            probe = self._probe = self._executor.submit(self._ping)
        try:
            probe.result(timeout=self._probe_timeout_s)
        except StoreUnavailableError:
            pass  # recorded by the probe
        except FutureTimeout:
            self._record(
                StoreUnavailableError(
                    f"the graph store did not answer within {self._probe_timeout_s:g} s"
                )
            )
        return self._health

    def _ping(self) -> None:
        self._run(lambda store: store.ping())

    def close(self) -> None:
        """Close the store and stop the worker thread."""
        self._executor.submit(self._reset).result()
        self._executor.shutdown(wait=True)


@dataclass(frozen=True, slots=True)
class Impression:
    """``user_id`` was shown ``item_id`` and/or ``post_id`` at ``ts`` (epoch seconds)."""

    user_id: str
    item_id: str | None
    post_id: str | None
    ts: int


_IMPRESSION_SCHEMA: Final[str] = (
    "CREATE TABLE IF NOT EXISTS impressions (user_id TEXT NOT NULL, item_id TEXT, "
    "post_id TEXT, ts INTEGER NOT NULL)"
)
_IMPRESSION_INDEX: Final[str] = (
    "CREATE INDEX IF NOT EXISTS impressions_user_ts ON impressions (user_id, ts)"
)
_INSERT_IMPRESSION: Final[str] = (
    "INSERT INTO impressions (user_id, item_id, post_id, ts) VALUES (?, ?, ?, ?)"
)
_COUNT_ITEMS: Final[str] = (
    "SELECT item_id, COUNT(*) FROM impressions WHERE user_id = ? AND ts >= ? "
    "AND item_id IS NOT NULL GROUP BY item_id"
)
_COUNT_POSTS: Final[str] = (
    "SELECT post_id, COUNT(*) FROM impressions WHERE user_id = ? AND ts >= ? "
    "AND post_id IS NOT NULL GROUP BY post_id"
)


class ImpressionLog:
    """Impressions in a SQLite file (``None``: in memory), safe to use from any thread.

    Args:
        path: The database file; created with its parent directory if missing.
    """

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.execute(_IMPRESSION_SCHEMA)
        self._conn.execute(_IMPRESSION_INDEX)

    def record(self, rows: Sequence[Impression]) -> int:
        """Append ``rows`` in one transaction; returns how many."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    _INSERT_IMPRESSION, [(r.user_id, r.item_id, r.post_id, r.ts) for r in rows]
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return len(rows)

    def counts(self, user_id: str, since_ts: int) -> tuple[dict[str, int], dict[str, int]]:
        """(impressions per item id, per post id) shown to ``user_id`` at ``ts >= since_ts``."""
        with self._lock:
            items = dict(self._conn.execute(_COUNT_ITEMS, (user_id, since_ts)).fetchall())
            posts = dict(self._conn.execute(_COUNT_POSTS, (user_id, since_ts)).fetchall())
        return items, posts

    def prune(self, before_ts: int) -> int:
        """Drop impressions older than ``before_ts`` (no cap window reaches them); returns
        how many were removed."""
        with self._lock:
            cursor = self._conn.execute("DELETE FROM impressions WHERE ts < ?", (before_ts,))
        return cursor.rowcount

    def delete_user(self, user_id: str) -> int:
        """Forget every impression of ``user_id``; returns how many were removed."""
        with self._lock:
            cursor = self._conn.execute("DELETE FROM impressions WHERE user_id = ?", (user_id,))
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass(frozen=True, slots=True)
class EventError:
    """One rejected entry of a batch: ``table`` and ``index`` locate it in the request."""

    table: Literal["users", "events"]
    index: int
    field: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class ValidatedBatch:
    users: list[User]
    interactions: list[Interaction]
    impressions: list[Impression]
    errors: list[EventError]


RawValues = dict[str, str | None]


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value) if name in ID_COLUMNS else str(value).strip()
    return text if text.strip() else None


def as_raw(values: dict[str, object]) -> RawValues:
    """Request fields as the loader's text values (stripped except ids, which validation
    checks as given; empty -> ``None``)."""
    return {name: _text(value, name) for name, value in values.items()}


def validate_events(
    store: GraphStore, users: Sequence[RawValues], events: Sequence[RawValues], *, now: int
) -> ValidatedBatch:
    """Validate a batch like the loader: ``users`` first, then ``events``.

    Events whose ``kind`` is ``"impression"`` need ``user_id``, a known ``item_id`` and/or a
    ``post_id``, and a valid ``ts``; every other event is an interaction checked by
    :meth:`graph.validate.Validator.validate_interactions`. A missing ``ts`` means ``now``.

    Args:
        store: For references to users and items loaded earlier.
        users: Users to register, as loader rows (``user_id``, ``region``, ``signup_ts``).
        events: Interactions and impressions, as loader rows.
        now: Epoch seconds (the default ``ts`` and the "future" bound).
    """
    validator = Validator(store, now=now)
    user_rows = [RawRow(n, dict(v)) for n, v in enumerate(users)]
    good_users, bad_users = validator.validate_users(
        TableSource("users", "users", user_rows), user_rows
    )
    errors = [EventError("users", r.line, r.field, r.value, r.reason) for r in bad_users]
    filled = [dict(v, ts=v.get("ts") or str(now)) for v in events]
    inter_rows = [
        RawRow(n, {k: v for k, v in values.items() if k != "post_id"})
        for n, values in enumerate(filled)
        if values.get("kind") != IMPRESSION
    ]
    interactions, bad_inter = validator.validate_interactions(
        TableSource("interactions", "events", inter_rows), inter_rows
    )
    errors += [EventError("events", r.line, r.field, r.value, r.reason) for r in bad_inter]
    impressions: list[Impression] = []
    registered = {u.user_id for u in good_users}
    wanted_users = {v.get("user_id") for v in filled if v.get("kind") == IMPRESSION}
    wanted_items = {v.get("item_id") for v in filled if v.get("kind") == IMPRESSION}
    known_users = registered | store.existing_user_ids(u for u in wanted_users if u)
    known_items = store.existing_item_ids(i for i in wanted_items if i)
    for n, values in enumerate(filled):
        if values.get("kind") != IMPRESSION:
            continue
        try:
            impressions.append(_impression(values, known_users, known_items, now))
        except _Bad as bad:
            errors.append(EventError("events", n, bad.field, shown(bad.value), bad.reason))
    errors.sort(key=lambda e: (e.table != "users", e.index))
    return ValidatedBatch(good_users, interactions, impressions, errors)


class _Bad(Exception):
    def __init__(self, field: str, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


def _impression(
    values: RawValues, known_users: set[str], known_items: set[str], now: int
) -> Impression:
    user = values.get("user_id")
    if user is None:
        raise _Bad("user_id", None, "missing user_id")
    if user not in known_users:
        raise _Bad("user_id", user, f"unknown user {user!r} (not in users nor in the store)")
    item, post = values.get("item_id"), values.get("post_id")
    if item is None and post is None:
        raise _Bad("item_id", None, "an impression needs item_id or post_id")
    if item is not None and item not in known_items:
        raise _Bad("item_id", item, f"unknown item {item!r} (not in the store)")
    try:
        ts = parse_timestamp(values.get("ts"), now)
    except ValueError as exc:
        raise _Bad("ts", values.get("ts"), str(exc)) from None
    return Impression(user, item, post, ts)


def write_batch(store: GraphStore, batch: ValidatedBatch) -> int:
    """Write the accepted users and interactions (users first) in one transaction that also
    logs them for the other replicas (:meth:`graph.store.GraphStore.write_events`); returns
    the write's sequence number (0: nothing to write)."""
    return store.write_events(batch.users, batch.interactions)
