"""Attribution: connect what the API served (a serve, :mod:`graph.serve_log`) to what the user
did next.

* :class:`ServeRecorder` gives every recommendation and feed response its ``serve_id`` at once
  and queues the serve; a background thread writes the queue to the store in batches, so the
  response path only pays for 16 random bytes and a ``deque.append`` of a tuple. A full queue
  drops serves (counted in :attr:`ServeRecorder.dropped`) rather than block or grow without
  bound.
* :func:`attribute` links events to serves: an event carrying a ``serve_id`` of a serve to the
  same user that showed the item is attributed to it (``explicit``); any other event on an item
  is attributed to the most recent serve of that item to that user at most ``window_s`` seconds
  before the event (``last_touch``); events with no such serve stay unattributed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from graph.schema import Interaction
from graph.serve_log import Attribution, Method, Serve, ServeLog, Surface
from graph.validate import parse_timestamp
from serving.events import IMPRESSION, Impression, StoreGateway
from serving.settings import Settings

_log = logging.getLogger(__name__)

#: Serves written to the store in one transaction at most.
FLUSH_BATCH: Final[int] = 1000
#: A queued serve: the fields of :class:`Serve` in order (the record is built in the background).
_Queued = tuple[str, str, int, Surface, tuple[str, ...], str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Touch:
    """An accepted event to attribute; ``serve_id`` is the one the client sent back, if any."""

    user_id: str
    item_id: str
    kind: str
    ts: int
    value: float
    serve_id: str | None = None


def attribute(
    events: Sequence[Touch],
    explicit: Mapping[str, Serve],
    recent: Mapping[str, Sequence[Serve]],
    window_s: int,
) -> list[Attribution]:
    """The attributions of ``events`` (events that none fits are left out).

    Args:
        events: The events, in any order.
        explicit: The stored serves named by the events' ``serve_id`` s, by id.
        recent: Per user, their serves that may precede the events (any order).
        window_s: Seconds after a serve in which an event without a fitting ``serve_id`` is
            attributed to it (inclusive); ``0``: only events at the serve's second.
    """
    newest_first = {
        user: sorted(serves, key=lambda s: (s.ts, s.serve_id), reverse=True)
        for user, serves in recent.items()
    }
    found: list[Attribution] = []
    for event in events:
        named = explicit.get(event.serve_id) if event.serve_id else None
        if named is not None and named.user_id == event.user_id:
            position = named.position(event.item_id)
            if position is not None:
                found.append(_attribution(event, named, position, "explicit"))
                continue
        for serve in newest_first.get(event.user_id, ()):
            if not 0 <= event.ts - serve.ts <= window_s:
                continue
            position = serve.position(event.item_id)
            if position is not None:
                found.append(_attribution(event, serve, position, "last_touch"))
                break
    return found


def _attribution(event: Touch, serve: Serve, position: int, method: Method) -> Attribution:
    return Attribution(
        event.user_id,
        event.item_id,
        event.kind,
        event.ts,
        event.value,
        serve.serve_id,
        position,
        method,
    )


def touches(
    events: Sequence[Mapping[str, str | None]],
    serve_ids: Sequence[str | None],
    interactions: Sequence[Interaction],
    impressions: Sequence[Impression],
    *,
    now: int,
) -> list[Touch]:
    """The accepted ``interactions`` and ``impressions`` (with an item) of a batch as touches,
    each with the ``serve_id`` its request entry carried.

    Args:
        events: The batch's events as loader rows (``user_id``, ``item_id``, ``kind``, ``ts``:
            a missing ``ts`` is ``now``), in request order.
        serve_ids: The ``serve_id`` of each of ``events`` (``None``: not given).
        interactions: The accepted interactions; impressions: the accepted impressions.
        now: The batch's time.
    """
    given: dict[tuple[str | None, str | None, str | None, int], str] = {}
    for values, serve_id in zip(events, serve_ids, strict=True):
        if not serve_id:
            continue
        try:
            ts = parse_timestamp(values.get("ts") or str(now), now)
        except ValueError:
            continue  # a rejected event: nothing to attribute
        given[(values.get("user_id"), values.get("item_id"), values.get("kind"), ts)] = serve_id
    found = [
        Touch(r.user_id, r.item_id, r.kind, r.ts, r.value, given.get(_key(r))) for r in interactions
    ]
    found += [
        Touch(
            i.user_id,
            i.item_id,
            IMPRESSION,
            i.ts,
            1.0,
            given.get((i.user_id, i.item_id, IMPRESSION, i.ts)),
        )
        for i in impressions
        if i.item_id is not None
    ]
    return found


def _key(row: Interaction) -> tuple[str, str, str, int]:
    return (row.user_id, row.item_id, row.kind, row.ts)


@dataclass(frozen=True, slots=True)
class Credited:
    """A stored attribution with the experiment arm of the serve it credits (``None`` for a
    serve outside experiments): what per-variant live counters count."""

    attribution: Attribution
    experiment: str | None
    variant: str | None


def attribute_in(store: ServeLog, events: Sequence[Touch], window_s: int) -> list[Attribution]:
    """Read the serves ``events`` may come from, attribute them (:func:`attribute`) and store
    the attributions; returns them."""
    return [c.attribution for c in credit_in(store, events, window_s)]


def credit_in(store: ServeLog, events: Sequence[Touch], window_s: int) -> list[Credited]:
    """:func:`attribute_in`, each attribution with the experiment and variant of its serve."""
    if not events:
        return []
    ids = sorted({e.serve_id for e in events if e.serve_id})
    explicit = {s.serve_id: s for s in store.serves_by_id(ids)} if ids else {}
    # One read for the batch: every serve of its users and items in its span (attribute()
    # keeps, per event, those of its user within its window).
    since = min(e.ts for e in events) - window_s
    until = max(e.ts for e in events)
    recent: dict[str, list[Serve]] = {}
    users, items = sorted({e.user_id for e in events}), sorted({e.item_id for e in events})
    for serve in store.serves_of(users, since, until, items):
        recent.setdefault(serve.user_id, []).append(serve)
    found = attribute(events, explicit, recent, window_s)
    if found:
        store.record_attributions(found)
    serves = explicit | {s.serve_id: s for listed in recent.values() for s in listed}
    return [Credited(a, serves[a.serve_id].experiment, serves[a.serve_id].variant) for a in found]


class ServeRecorder:
    """Serve ids for responses, with the serves written to the store in the background.

    Args:
        write: Stores a batch of serves (e.g. through the API's store gateway); may raise.
        max_pending: Most serves queued; more are dropped (and counted) until a flush.
        interval_s: Seconds between background flushes.
        compact: Called about every ``compact_interval_s`` from the background thread (the
            serve log's retention); ``None``: never.
        compact_interval_s: Seconds between ``compact`` calls.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Serve]], object],
        *,
        max_pending: int = 10_000,
        interval_s: float = 0.5,
        compact: Callable[[], object] | None = None,
        compact_interval_s: float = 600.0,
    ) -> None:
        if max_pending < 1 or interval_s <= 0 or compact_interval_s <= 0:
            raise ValueError(
                "max_pending must be >= 1 and the intervals > 0, got "
                f"{max_pending}, {interval_s}, {compact_interval_s}"
            )
        self._write = write
        self._max_pending = max_pending
        self._interval_s = interval_s
        self._compact = compact
        self._compact_interval_s = compact_interval_s
        self._pending: deque[_Queued] = deque()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_compact = time.monotonic()
        #: Serves dropped because the queue was full or the store failed.
        self.dropped = 0

    def record(
        self,
        user_id: str,
        surface: Surface,
        items: Sequence[str],
        *,
        model: str | None,
        experiment: str | None = None,
        variant: str | None = None,
        ts: int | None = None,
    ) -> str:
        """Queue the serve of ``items`` (in the order shown) to ``user_id``; returns its new
        ``serve_id``. Never blocks on the store."""
        serve_id = os.urandom(16).hex()  # 128 random bits, as a uuid4 has (~5x cheaper)
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return serve_id
        moment = int(time.time()) if ts is None else ts
        self._pending.append(
            (serve_id, user_id, moment, surface, tuple(items), model, experiment, variant)
        )
        return serve_id

    @property
    def pending(self) -> int:
        """Serves queued and not yet written."""
        return len(self._pending)

    def flush(self) -> int:
        """Write every serve queued so far, in batches; returns how many were written.

        Raises:
            Exception: what ``write`` raised; the batch that failed is dropped (counted).
        """
        written = 0
        with self._flush_lock:
            while self._pending:
                batch = [
                    Serve(*self._pending.popleft())
                    for _ in range(min(FLUSH_BATCH, len(self._pending)))
                ]
                try:
                    self._write(batch)
                except Exception:
                    self.dropped += len(batch)
                    raise
                written += len(batch)
        return written

    def start(self) -> None:
        """Start the background flusher (a daemon thread)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="socialrec-serve-log", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the flusher and write what is queued (errors are logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._tick(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._tick(final=False)

    def _tick(self, *, final: bool) -> None:
        try:
            self.flush()
            due = time.monotonic() - self._last_compact >= self._compact_interval_s
            if self._compact is not None and due and not final:
                self._last_compact = time.monotonic()
                self._compact()
        except Exception as exc:  # the store is down: serving goes on, serves are dropped
            _log.warning(
                "serve log not written (%s); %d serves dropped so far",
                type(exc).__name__,
                self.dropped,
            )


#: Seconds between compactions of the serve log by a server's flusher.
COMPACT_INTERVAL_S: Final[float] = 600.0


def open_serve_recorder(settings: Settings, store: StoreGateway) -> ServeRecorder | None:
    """The API's recorder writing through ``store`` and compacting the log to the retention
    settings; ``None`` when ``settings.serve_log`` is off. Not started."""
    if not settings.serve_log:
        return None
    retention_s = settings.serve_log_retention_days * 86_400

    def write(serves: Sequence[Serve]) -> None:
        store.call(lambda opened: opened.record_serves(serves))

    def compact() -> None:
        before = max(int(time.time() - retention_s), 0)
        max_rows = settings.serve_log_max_rows
        store.call(lambda opened: opened.compact_serves(before, max_serves=max_rows))

    return ServeRecorder(
        write,
        max_pending=settings.serve_log_queue,
        interval_s=settings.serve_log_flush_s,
        compact=compact,
        compact_interval_s=COMPACT_INTERVAL_S,
    )
