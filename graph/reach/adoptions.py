"""Adoption logs and their time split, the data side of the reach backtest.

An *adoption* is a user's first timed interaction of one of the chosen kinds with an item
(default: ``purchase``). Interactions with unknown time (``ts = -1``, e.g. Last.fm listen
counts) cannot be placed in time: they are left out and counted in ``AdoptionLog.untimed``.

:func:`split_by_time` splits *items* by the time of their first adoption: items first adopted
before the cutoff form the fit part (only their adoptions before the cutoff are kept, so no
held-out adoption can reach a fit), the newer ones are held out as :class:`Cascades`: the first
``k`` adopters are the seeds and the distinct adopters within ``horizon_s`` of the first
adoption (seeds included) are the observed size. Held-out items whose horizon runs past the end
of the log have not had time to grow and are counted as censored, not evaluated.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from graph.schema import INTERACTION_KINDS, UNKNOWN_TS

if TYPE_CHECKING:
    from graph.reach.influence_graph import InfluenceGraph
    from graph.snapshot import Snapshot

Int64s = NDArray[np.int64]


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` as a tuple.

    Raises:
        ValueError: if ``kinds`` is empty or names an unknown interaction kind.
    """
    if isinstance(kinds, str):
        kinds = (kinds,)
    unknown = [k for k in kinds if k not in INTERACTION_KINDS]
    if unknown or not kinds:
        raise ValueError(
            f"kinds must be a non-empty subset of {INTERACTION_KINDS}, got {list(kinds)}"
        )
    return tuple(kinds)


@dataclass(frozen=True, eq=False)
class AdoptionLog:
    """First timed adoption per (user, item), sorted by ``(ts, user, item)``.

    Attributes:
        user: ``int64[n]`` user index (snapshot order).
        item: ``int64[n]`` item index (snapshot order).
        ts: ``int64[n]`` time of the adoption, epoch seconds.
        kinds: The interaction kinds that count as adoption.
        untimed: (user, item) pairs of those kinds that have no timed event (left out).
    """

    user: Int64s
    item: Int64s
    ts: Int64s
    kinds: tuple[str, ...]
    untimed: int = 0

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, kinds: Sequence[str] = ("purchase",)) -> AdoptionLog:
        """The adoption log of a snapshot's interactions of ``kinds``.

        Raises:
            ValueError: if ``kinds`` is empty or names an unknown kind.
        """
        kinds = check_kinds(kinds)
        codes = [INTERACTION_KINDS.index(k) for k in kinds]
        of_kind = np.isin(snapshot.inter_kind, codes)
        timed = of_kind & (snapshot.inter_ts != UNKNOWN_TS)
        n_items = max(snapshot.num_items, 1)
        pair = snapshot.inter_user.astype(np.int64) * n_items + snapshot.inter_item
        untimed = np.setdiff1d(pair[of_kind & ~timed], pair[timed]).shape[0]
        users, items, ts = (
            snapshot.inter_user[timed],
            snapshot.inter_item[timed],
            snapshot.inter_ts[timed],
        )
        order = np.lexsort((ts, items, users))
        users, items, ts = users[order], items[order], ts[order]
        first = np.ones(users.shape[0], dtype=bool)
        first[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        log = cls(
            users[first].astype(np.int64),
            items[first].astype(np.int64),
            ts[first].astype(np.int64),
            kinds,
            int(untimed),
        )
        return log.subset(np.ones(len(log), dtype=bool))

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask: NDArray[np.bool_]) -> AdoptionLog:
        """The adoptions where ``mask`` is true, sorted by ``(ts, user, item)``."""
        user, item, ts = self.user[mask], self.item[mask], self.ts[mask]
        order = np.lexsort((item, user, ts))
        return replace(self, user=user[order], item=item[order], ts=ts[order])

    def period(self) -> tuple[int, int]:
        """``(first, last)`` adoption time (``(-1, -1)`` for an empty log)."""
        if not len(self):
            return UNKNOWN_TS, UNKNOWN_TS
        return int(self.ts[0]), int(self.ts[-1])

    def first_adoption(self, num_items: int) -> Int64s:
        """``int64[num_items]``: each item's first adoption time (-1 when never adopted)."""
        first = np.full(num_items, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, self.item, self.ts)
        first[first == np.iinfo(np.int64).max] = UNKNOWN_TS
        return first

    def as_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """``snapshot`` with its interactions replaced by these adoptions (of the first kind),
        e.g. to learn edge probabilities from the fit part only."""
        code = INTERACTION_KINDS.index(self.kinds[0])
        return replace(
            snapshot,
            inter_user=self.user.copy(),
            inter_item=self.item.copy(),
            inter_kind=np.full(len(self), code, dtype=np.int8),
            inter_value=np.ones(len(self), dtype=np.float32),
            inter_ts=self.ts.copy(),
        )


@dataclass(frozen=True, eq=False)
class Cascades:
    """Held-out items with their seeds and observed sizes.

    Attributes:
        item: ``int64[m]`` item index.
        seeds: ``int64[m, k]`` the first ``k`` adopters (ties in time broken by user index).
        start: ``int64[m]`` time of the first adoption.
        observed: ``int64[m]`` distinct adopters within the horizon, seeds included.
    """

    item: Int64s
    seeds: Int64s
    start: Int64s
    observed: Int64s

    def __len__(self) -> int:
        return int(self.item.shape[0])


@dataclass(frozen=True, eq=False)
class TimeSplit:
    """The result of :func:`split_by_time`.

    Attributes:
        fit: Adoptions strictly before ``cutoff`` (of items first adopted before it).
        held_out: The evaluated held-out cascades.
        cutoff: First-adoption time from which items are held out.
        end: End of the observation period (last adoption, or the bound given).
        horizon_s: Observation horizon in seconds.
        censored: Held-out items whose horizon passes ``end`` (not evaluated).
        too_small: Held-out items with fewer adopters than seeds (not evaluated).
    """

    fit: AdoptionLog
    held_out: Cascades
    cutoff: int
    end: int
    horizon_s: int
    censored: int
    too_small: int


def check_split_options(horizon_s: int, holdout: float, seeds_per_item: int) -> None:
    """Raises ValueError naming the first option out of range."""
    if horizon_s <= 0:
        raise ValueError(f"horizon_s must be > 0 seconds, got {horizon_s}")
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    if seeds_per_item < 1:
        raise ValueError(f"seeds_per_item must be >= 1, got {seeds_per_item}")


def split_by_time(
    log: AdoptionLog,
    *,
    horizon_s: int,
    holdout: float = 0.3,
    seeds_per_item: int = 1,
    end: int | None = None,
) -> TimeSplit:
    """Split ``log`` by items' first-adoption time (never at random).

    Args:
        log: The adoption log.
        horizon_s: Observed size = distinct adopters within this many seconds of the first.
        holdout: Share of adopted items (the newest) held out, in (0, 1).
        seeds_per_item: ``k``: the first ``k`` adopters are the seeds (>= 1).
        end: End of the observation period; default the last adoption. Adoptions after it
            are ignored.

    Raises:
        ValueError: on a horizon <= 0, a holdout outside (0, 1), ``seeds_per_item < 1`` or an
            empty log.
    """
    check_split_options(horizon_s, holdout, seeds_per_item)
    if end is not None:
        log = log.subset(log.ts <= end)
    if not len(log):
        raise ValueError("the adoption log is empty: no timed adoptions of the chosen kinds")
    stop = int(log.ts[-1]) if end is None else int(end)
    num_items = int(log.item.max()) + 1
    first = log.first_adoption(num_items)
    starts = np.sort(first[first != UNKNOWN_TS])
    cutoff = int(starts[min(int(np.floor((1.0 - holdout) * starts.shape[0])), starts.shape[0] - 1)])
    fit = log.subset(log.ts < cutoff)

    late = log.subset(first[log.item] >= cutoff)
    order = np.lexsort((late.user, late.ts, late.item))
    item, user, ts = late.item[order], late.user[order], late.ts[order]
    bounds = np.flatnonzero(np.r_[True, item[1:] != item[:-1], True])
    rows: list[tuple[int, list[int], int, int]] = []
    censored = too_small = 0
    for lo, hi in itertools.pairwise(bounds):
        t0 = int(ts[lo])
        if t0 + horizon_s > stop:
            censored += 1
            continue
        size = int(np.searchsorted(ts[lo:hi], t0 + horizon_s, side="right"))
        if size < seeds_per_item:
            too_small += 1
            continue
        rows.append((int(item[lo]), user[lo : lo + seeds_per_item].tolist(), t0, size))
    cascades = Cascades(
        item=np.array([r[0] for r in rows], dtype=np.int64),
        seeds=np.array([r[1] for r in rows], dtype=np.int64).reshape(-1, seeds_per_item),
        start=np.array([r[2] for r in rows], dtype=np.int64),
        observed=np.array([r[3] for r in rows], dtype=np.int64),
    )
    return TimeSplit(fit, cascades, cutoff, stop, int(horizon_s), censored, too_small)


def earlier_influencers(
    graph: InfluenceGraph, log: AdoptionLog, window_s: int
) -> tuple[Int64s, Int64s]:
    """For each adoption ``j`` of ``v``, the adoptions of the same item by ``v``'s in-neighbours
    (accounts ``v`` sees) strictly earlier and at most ``window_s`` before it.

    Returns:
        CSR ``(ptr, parents)``: the parents of adoption ``j`` are
        ``parents[ptr[j]:ptr[j + 1]]`` (indices into ``log``).
    """
    n = max(graph.num_nodes, 1)
    order = np.argsort(graph.indices, kind="stable")
    in_src = graph.sources[order].astype(np.int64)
    in_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(graph.indices, minlength=n), out=in_ptr[1:])
    num_items = int(log.item.max()) + 1 if len(log) else 1
    key = log.user * num_items + log.item
    key_order = np.argsort(key)
    sorted_key = key[key_order]

    degree = in_ptr[log.user + 1] - in_ptr[log.user]
    child = np.repeat(np.arange(len(log), dtype=np.int64), degree)
    offset = np.arange(child.shape[0]) - np.repeat(np.cumsum(degree) - degree, degree)
    parent_user = in_src[in_ptr[log.user[child]] + offset]
    want = parent_user * num_items + log.item[child]
    pos = np.minimum(np.searchsorted(sorted_key, want), max(sorted_key.shape[0] - 1, 0))
    found = sorted_key[pos] == want if sorted_key.shape[0] else np.zeros(0, dtype=bool)
    parent = key_order[pos]
    lag = log.ts[child] - log.ts[parent]
    keep = found & (lag > 0) & (lag <= window_s)
    child, parent = child[keep], parent[keep]
    ptr = np.zeros(len(log) + 1, dtype=np.int64)
    np.cumsum(np.bincount(child, minlength=len(log)), out=ptr[1:])
    return ptr, parent.astype(np.int64)
