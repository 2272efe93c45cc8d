"""The serve log: what the API served to whom (a *serve*), and the interactions attributed to it.

A :class:`Serve` is one recommendation or feed response: its ``serve_id`` (returned to the
client), the user, the time, the surface (``rec`` or ``feed``), the items in the order shown
(position 1 is the top item), the model that ranked them and, when an experiment assigned the
user, the experiment and variant (both ``None`` otherwise).

An :class:`Attribution` links one event (an interaction or an impression) to the serve it came
from: ``explicit`` when the client sent the ``serve_id`` back, ``last_touch`` when the most
recent serve of that item to that user within the attribution window is taken instead (see
:func:`serving.attribution.attribute`). Its key is the event's ``(user_id, item_id, kind, ts)``,
so re-sending an event changes nothing.

Both stores keep the log beside the graph (:class:`ServeLog`, which every graph store
implements): bounded by :meth:`ServeLog.compact_serves` (a retention time and a row cap) and
purged with the user by :meth:`graph.store.GraphStore.delete_user`. The records of launched
campaigns (:mod:`serving.campaigns`) are kept there too, as JSON text: few, small, never
compacted, deleted with any of their KOLs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, runtime_checkable

Surface = Literal["rec", "feed"]
SURFACES: Final[tuple[str, ...]] = ("rec", "feed")
Method = Literal["explicit", "last_touch"]
METHODS: Final[tuple[str, ...]] = ("explicit", "last_touch")


@dataclass(frozen=True, slots=True)
class Serve:
    """One served response: ``items`` in the order shown (position ``n`` is ``items[n - 1]``;
    a feed may show an item twice, in two posts)."""

    serve_id: str
    user_id: str
    #: Epoch seconds.
    ts: int
    surface: Surface
    items: tuple[str, ...]
    #: The model (checkpoint id) that ranked the items; ``None`` if unknown.
    model: str | None = None
    #: The experiment that assigned the user, and its variant; ``None`` outside experiments.
    experiment: str | None = None
    variant: str | None = None

    def position(self, item_id: str) -> int | None:
        """The first 1-based position of ``item_id`` in this serve, or ``None`` if not served."""
        try:
            return self.items.index(item_id) + 1
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The event ``(user_id, item_id, kind, ts)`` attributed to serve ``serve_id``."""

    user_id: str
    item_id: str
    #: ``impression`` or an interaction kind (view, click, cart, purchase, rating).
    kind: str
    ts: int
    value: float
    serve_id: str
    #: The item's 1-based position in the serve.
    position: int
    method: Method


def check_serve(serve: Serve) -> None:
    """Validate a serve before it is stored.

    Raises:
        ValueError: naming the field, for an empty id or an unknown surface.
    """
    if not serve.serve_id or not serve.user_id:
        raise ValueError(f"a serve needs a serve_id and a user_id, got {serve!r}")
    if serve.surface not in SURFACES:
        raise ValueError(f"serve surface must be one of {SURFACES}, got {serve.surface!r}")


def check_retention(before_ts: int, max_serves: int | None) -> None:
    """Validate the arguments of :meth:`ServeLog.compact_serves`."""
    if before_ts < 0:
        raise ValueError(f"before_ts must be >= 0, got {before_ts}")
    if max_serves is not None and max_serves < 0:
        raise ValueError(f"max_serves must be >= 0 or None, got {max_serves}")


@runtime_checkable
class ServeLog(Protocol):
    """The serve log of a graph store (both ``SQLiteStore`` and ``Neo4jStore`` implement it)."""

    def record_serves(self, serves: Sequence[Serve]) -> int:
        """Store ``serves`` in one transaction (a known ``serve_id`` is left as stored);
        returns how many were given.

        Raises:
            ValueError: if a serve fails :func:`check_serve`.
        """
        ...

    def serves_by_id(self, serve_ids: Sequence[str]) -> list[Serve]:
        """The stored serves among ``serve_ids`` (unknown ids are left out), in any order."""
        ...

    def serves_of(
        self,
        user_ids: Sequence[str],
        since_ts: int,
        until_ts: int,
        item_ids: Sequence[str] | None = None,
    ) -> list[Serve]:
        """The serves to any of ``user_ids`` with ``since_ts <= ts <= until_ts`` (that showed
        one of ``item_ids``, when given), newest first (ties: ``serve_id`` descending)."""
        ...

    def record_attributions(self, rows: Sequence[Attribution]) -> int:
        """Upsert attributions keyed by ``(user_id, item_id, kind, ts)`` in one transaction;
        returns how many were given."""
        ...

    def iter_serves(self, since_ts: int = 0, batch_size: int = 10_000) -> Iterator[list[Serve]]:
        """Yield the serves with ``ts >= since_ts`` in pages, ordered by ``(ts, serve_id)``."""
        ...

    def iter_attributions(
        self, since_ts: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[Attribution]]:
        """Yield the attributions with ``ts >= since_ts`` in pages, ordered by
        ``(ts, user_id, item_id, kind)``."""
        ...

    def compact_serves(self, before_ts: int, *, max_serves: int | None = None) -> int:
        """Remove serves and attributions older than ``before_ts``, then the oldest serves
        beyond the newest ``max_serves`` (with the attributions to them). Returns the serves
        removed.

        Raises:
            ValueError: if ``before_ts < 0`` or ``max_serves < 0``.
        """
        ...

    def serve_counts(self) -> tuple[int, int]:
        """(serves, attributions) stored."""
        ...

    def record_campaign(
        self, campaign_id: str, created_ts: int, kols: Sequence[str], body: str
    ) -> None:
        """Store a launched campaign's record (``body``: JSON text, see
        :mod:`serving.campaigns`) naming ``kols``; a known ``campaign_id`` is left as stored.
        Deleting one of the ``kols`` deletes the record."""
        ...

    def campaign_bodies(self, campaign_id: str | None = None) -> list[str]:
        """The stored campaign records (all, oldest first, or the one ``campaign_id``: an
        empty list when unknown)."""
        ...
