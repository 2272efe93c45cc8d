"""The live serving graph: an exported snapshot plus the changes made since it was loaded.

:class:`LiveGraph` answers the graph questions serving asks (a user's history, whom they see,
what those people interacted with, item popularity) from the snapshot's arrays, overlaid with
what the API changed since: users registered and interactions accepted by ``POST /events``,
users deleted by ``DELETE /users/{id}``, and user vectors folded in from new interactions.
The snapshot is never modified. All methods are thread-safe (one re-entrant lock; reads copy
what they return).

Social edges follow :mod:`graph.snapshot`: ``src -> dst`` means ``src`` sees ``dst``'s
activity, so a user's *friends* here are the users they see (mutual friends and followees).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from graph.schema import INTERACTION_KINDS, Interaction, User
from graph.snapshot import FRIEND_CODE, Snapshot
from graph.store import merged_user
from serving.recommender import distinct_pairs


@dataclass(frozen=True, slots=True)
class History:
    """A user's interactions as aligned arrays: item indices, timestamps (``UNKNOWN_TS`` = -1
    when unknown) and kind codes into ``graph.schema.INTERACTION_KINDS``."""

    items: NDArray[np.int64]
    ts: NDArray[np.int64]
    kinds: NDArray[np.int64]

    @classmethod
    def empty(cls) -> History:
        none = np.zeros(0, np.int64)
        return cls(none, none, none)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A user another user sees: ``kind`` is ``"friend"`` (mutual) or ``"follow"``."""

    user_id: str
    kind: str


class FriendActivity:
    """The friends who interacted with each item, built with array operations (serving asks
    it which items friends touched and how many friends each, and the friends behind a few
    items for reasons).

    Args:
        friends: Friend ids, sorted (a friend's position is its code below).
        items, ts, friend: One entry per interaction: item index, time (``UNKNOWN_TS`` = -1
            when unknown), friend position.
        num_items: Catalogue size (length of :attr:`counts`).
    """

    def __init__(
        self,
        friends: Sequence[str],
        items: NDArray[np.int64],
        ts: NDArray[np.int64],
        friend: NDArray[np.int64],
        num_items: int,
    ) -> None:
        items, ts, friend = items.astype(np.int64), ts.astype(np.int64), friend.astype(np.int64)
        # One row per (item, friend) with its latest time, sorted by item then friend: one
        # sort of (item, friend) keys with time as the minor key, keep each key's last row.
        key = items * max(len(friends), 1) + friend
        order = np.lexsort((ts, key))
        key, ts = key[order], ts[order]
        last = np.ones(len(key), dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        self._friends = list(friends)
        self._items = items[order][last]
        self._friend = friend[order][last]
        self._ts = ts[last]
        self._num_items = num_items
        starts = np.flatnonzero(np.r_[True, self._items[1:] != self._items[:-1]])
        #: The items friends interacted with, ascending, and how many distinct friends each.
        self.touched = self._items[starts] if len(self._items) else self._items
        self.touched_counts = np.diff(np.r_[starts, len(self._items)]).astype(np.float64)

    @property
    def counts(self) -> NDArray[np.float64]:
        """Distinct friends who interacted with each item, ``[num_items]``."""
        out = np.zeros(self._num_items, dtype=np.float64)
        out[self.touched] = self.touched_counts
        return out

    @classmethod
    def empty(cls, num_items: int) -> FriendActivity:
        none = np.zeros(0, np.int64)
        return cls([], none, none, none, num_items)

    def get(self, item: int) -> list[tuple[int, str]]:
        """``(latest ts, friend id)`` of each friend who interacted with ``item``, most
        recent first (unknown times last, then by id); empty if none."""
        start, stop = np.searchsorted(self._items, [item, item + 1])
        rows = sorted(
            zip(self._ts[start:stop].tolist(), self._friend[start:stop].tolist(), strict=True),
            key=lambda row: (-row[0], row[1]),
        )
        return [(t, self._friends[f]) for t, f in rows]


def _csr(keys: NDArray[np.int64], size: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(order, indptr): rows of key ``k`` are ``order[indptr[k]:indptr[k + 1]]``."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=size), out=indptr[1:])
    return order, indptr


class LiveGraph:
    """A snapshot plus live changes (see the module docstring).

    Args:
        snapshot: The exported graph being served.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self._snap = snapshot
        self._lock = threading.RLock()
        self._inter_order, self._inter_ptr = _csr(snapshot.inter_user, snapshot.num_users)
        self._out_order, self._out_ptr = _csr(snapshot.social_src, snapshot.num_users)
        self._in_order, self._in_ptr = _csr(snapshot.social_dst, snapshot.num_users)
        _, pair_items = distinct_pairs(snapshot.inter_user, snapshot.inter_item)
        self._popularity = np.bincount(pair_items, minlength=snapshot.num_items).astype(np.float64)
        self._new_users: dict[str, User] = {}
        self._live: dict[str, list[Interaction]] = {}
        self._deleted: set[str] = set()
        self._vectors: dict[str, torch.Tensor] = {}
        self._membership = 0
        #: Privacy settings of snapshot users changed since the snapshot.
        self._private: dict[str, bool] = {}

    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    @property
    def membership(self) -> int:
        """A counter that grows whenever a user is registered, deleted or comes back (caches
        of who is served, such as the reach graph, compare it to know when to rebuild)."""
        with self._lock:
            return self._membership

    # -- users ----------------------------------------------------------------------------

    def has_user(self, user_id: str) -> bool:
        """Whether ``user_id`` is served: in the snapshot or registered live, not deleted."""
        with self._lock:
            if user_id in self._deleted:
                return False
            return user_id in self._snap.user_index or user_id in self._new_users

    def is_deleted(self, user_id: str) -> bool:
        with self._lock:
            return user_id in self._deleted

    @property
    def deleted(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._deleted)

    def add_users(self, users: Iterable[User]) -> None:
        """Register users (new ones become servable; deleted ones come back). Registering a
        user again keeps the fields the new row leaves absent, as the stores do."""
        with self._lock:
            for user in users:
                known = self._new_users.get(user.user_id)
                if user.user_id in self._deleted or (
                    known is None and user.user_id not in self._snap.user_index
                ):
                    self._membership += 1
                self._deleted.discard(user.user_id)
                if user.user_id in self._snap.user_index:
                    if user.private is not None:
                        self._private[user.user_id] = user.private
                    continue
                self._new_users[user.user_id] = merged_user(user, known)

    def is_private(self, user_id: str) -> bool:
        """Whether ``user_id`` has the privacy setting on (docs/privacy.md)."""
        with self._lock:
            if user_id in self._new_users:
                return bool(self._new_users[user_id].private)
            if user_id in self._private:
                return self._private[user_id]
        u = self._snap.user_index.get(user_id)
        return u is not None and bool(self._snap.user_private[u])

    def privacy_settings(self) -> list[User]:
        """The privacy settings of snapshot users changed since load (for carrying over)."""
        with self._lock:
            return [User(u, private=p) for u, p in self._private.items()]

    def delete_user(self, user_id: str) -> bool:
        """Forget ``user_id``: history, vector and appearances as anyone's neighbour.

        Returns:
            False if the user was not served (they are still marked deleted).
        """
        with self._lock:
            if not self.has_user(user_id):
                self._deleted.add(user_id)  # stays unservable even if a later load has it
                return False
            self._membership += 1
            items = self.seen(user_id)
            self._popularity[items] = np.maximum(self._popularity[items] - 1.0, 0.0)
            self._deleted.add(user_id)
            self._new_users.pop(user_id, None)
            self._live.pop(user_id, None)
            self._vectors.pop(user_id, None)
            self._private.pop(user_id, None)
            return True

    def region_of(self, user_id: str) -> str | None:
        with self._lock:
            if user_id in self._new_users:
                return self._new_users[user_id].region
        u = self._snap.user_index.get(user_id)
        if u is None:
            return None
        code = int(self._snap.user_region[u])
        return self._snap.regions[code] if code >= 0 else None

    # -- interactions -----------------------------------------------------------------------

    def add_interactions(self, rows: Sequence[Interaction]) -> list[Interaction]:
        """Add accepted interactions (users must be served, items in the snapshot).

        An interaction the graph already holds (same user, item, kind and time: the store's
        key) is skipped, so applying a write again changes nothing.

        Returns:
            The rows added, in order.

        Raises:
            ValueError: naming the row, if its user is not served or its item is unknown.
        """
        added: list[Interaction] = []
        held: dict[str, set[tuple[int, int, int]]] = {}
        with self._lock:
            for row in rows:
                if not self.has_user(row.user_id):
                    raise ValueError(f"rows: user_id {row.user_id!r} is not served")
                item = self._snap.item_index.get(row.item_id)
                if item is None:
                    raise ValueError(f"rows: item_id {row.item_id!r} is not in the snapshot")
                if row.user_id not in held:
                    hist = self.history(row.user_id)
                    held[row.user_id] = set(
                        zip(hist.items.tolist(), hist.kinds.tolist(), hist.ts.tolist(), strict=True)
                    )
                key = (item, INTERACTION_KINDS.index(row.kind), row.ts)
                if key in held[row.user_id]:
                    continue
                if not any(seen == item for seen, _, _ in held[row.user_id]):
                    self._popularity[item] += 1.0
                held[row.user_id].add(key)
                self._live.setdefault(row.user_id, []).append(row)
                added.append(row)
        return added

    def history(self, user_id: str) -> History:
        """Every interaction of ``user_id``, snapshot rows first; empty if not served."""
        with self._lock:
            if user_id in self._deleted:
                return History.empty()
            live = list(self._live.get(user_id, []))
        u = self._snap.user_index.get(user_id)
        if u is None:
            base = History.empty()
        else:
            rows = self._inter_order[self._inter_ptr[u] : self._inter_ptr[u + 1]]
            base = History(
                self._snap.inter_item[rows].astype(np.int64),
                self._snap.inter_ts[rows].astype(np.int64),
                self._snap.inter_kind[rows].astype(np.int64),
            )
        if not live:
            return base
        return History(
            np.concatenate([base.items, [self._snap.item_index[r.item_id] for r in live]]),
            np.concatenate([base.ts, [r.ts for r in live]]),
            np.concatenate([base.kinds, [INTERACTION_KINDS.index(r.kind) for r in live]]),
        )

    def seen(self, user_id: str) -> NDArray[np.int64]:
        """Sorted distinct item indices ``user_id`` interacted with."""
        return np.unique(self.history(user_id).items)

    def live_interactions(self) -> list[Interaction]:
        """Every interaction added since load (for carrying over on reload)."""
        with self._lock:
            return [row for rows in self._live.values() for row in rows]

    def new_users(self) -> list[User]:
        with self._lock:
            return list(self._new_users.values())

    def popularity(self) -> NDArray[np.float64]:
        """Distinct users per item (snapshot plus live, deleted users removed); a copy."""
        with self._lock:
            return self._popularity.copy()

    def region_popularity(self, region: str) -> NDArray[np.float64]:
        """Distinct users of ``region`` per item, from the snapshot (deleted users removed).

        Raises:
            ValueError: if ``region`` is not a region of the snapshot.
        """
        try:
            code = self._snap.regions.index(region)
        except ValueError:
            raise ValueError(
                f"region must be one of the snapshot's regions (e.g. {self._snap.regions[:5]}), "
                f"got {region!r}"
            ) from None
        snap = self._snap
        keep = snap.user_region[snap.inter_user] == code
        deleted = self.deleted
        if deleted:
            gone = np.array([snap.user_index.get(d, -1) for d in deleted], np.int64)
            keep &= ~np.isin(snap.inter_user, gone)
        _, pair_items = distinct_pairs(snap.inter_user[keep], snap.inter_item[keep])
        return np.bincount(pair_items, minlength=snap.num_items).astype(np.float64)

    # -- social -----------------------------------------------------------------------------

    def following(self, user_id: str) -> list[Neighbour]:
        """The served users ``user_id`` sees (friends and followees), in id order."""
        u = self._snap.user_index.get(user_id)
        if u is None or self.is_deleted(user_id):
            return []
        rows = self._out_order[self._out_ptr[u] : self._out_ptr[u + 1]]
        return self._neighbours(self._snap.social_dst[rows], self._snap.social_kind[rows])

    def followers(self, user_id: str) -> list[Neighbour]:
        """The served users who see ``user_id`` (friends and followers), in id order."""
        u = self._snap.user_index.get(user_id)
        if u is None or self.is_deleted(user_id):
            return []
        rows = self._in_order[self._in_ptr[u] : self._in_ptr[u + 1]]
        return self._neighbours(self._snap.social_src[rows], self._snap.social_kind[rows])

    def seen_by_any(self, viewers: Iterable[str], among: Iterable[str]) -> set[str]:
        """The users of ``among`` whom at least one of ``viewers`` sees: the same set as
        ``{n.user_id for v in viewers for n in self.following(v)} & set(among)``, from the
        edge arrays, without listing each viewer's neighbours (feed ranking's two-hop test)."""
        index, deleted = self._snap.user_index, self.deleted
        sources = [index[v] for v in viewers if v in index and v not in deleted]
        wanted = {index[a]: a for a in among if a in index and a not in deleted}
        if not sources or not wanted:
            return set()
        rows = np.concatenate(
            [self._out_order[self._out_ptr[u] : self._out_ptr[u + 1]] for u in sources]
        )
        hit = np.intersect1d(self._snap.social_dst[rows], np.fromiter(wanted, np.int64))
        return {wanted[t] for t in hit.tolist() if not self.is_private(wanted[t])}

    def _neighbours(self, users: NDArray[np.int64], kinds: NDArray[np.int8]) -> list[Neighbour]:
        deleted = self.deleted
        out = [
            Neighbour(self._snap.user_ids[v], "friend" if k == FRIEND_CODE else "follow")
            for v, k in zip(users.tolist(), kinds.tolist(), strict=True)
        ]
        return sorted(
            (n for n in out if n.user_id not in deleted and not self.is_private(n.user_id)),
            key=lambda n: (n.user_id, n.kind),
        )

    def friend_activity(self, user_id: str) -> FriendActivity:
        """Which served users ``user_id`` sees interacted with which items (see
        :class:`FriendActivity`); empty for users not served."""
        snap = self._snap
        u = snap.user_index.get(user_id)
        if u is None or self.is_deleted(user_id):
            return FriendActivity.empty(snap.num_items)
        # Snapshot ids are sorted, so index order is the id order friends are listed in.
        seen = np.unique(snap.social_dst[self._out_order[self._out_ptr[u] : self._out_ptr[u + 1]]])
        friends = [snap.user_ids[v] for v in seen.tolist()]
        with self._lock:
            hidden = self._deleted | {u for u, p in self._private.items() if p}
            private = snap.user_private[seen]
            if hidden or private.any():  # private friends' activity is never shown
                kept = [
                    n
                    for n, f in enumerate(friends)
                    if f not in hidden and (not private[n] or self._private.get(f) is False)
                ]
                seen, friends = seen[kept], [friends[n] for n in kept]
            live = [(n, row) for n, f in enumerate(friends) for row in self._live.get(f, ())]
        # The friends' snapshot rows: one contiguous run of the CSR order per friend.
        starts, counts = self._inter_ptr[seen], self._inter_ptr[seen + 1] - self._inter_ptr[seen]
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        rows = self._inter_order[offsets + np.arange(int(counts.sum()))]

        def with_live(base: NDArray[np.generic], extra: list[int]) -> NDArray[np.int64]:
            return np.concatenate([base.astype(np.int64), np.array(extra, dtype=np.int64)])

        return FriendActivity(
            friends,
            with_live(snap.inter_item[rows], [snap.item_index[r.item_id] for _, r in live]),
            with_live(snap.inter_ts[rows], [r.ts for _, r in live]),
            with_live(np.repeat(np.arange(len(friends)), counts), [n for n, _ in live]),
            snap.num_items,
        )

    # -- folded-in vectors --------------------------------------------------------------------

    def user_vector(self, user_id: str) -> torch.Tensor | None:
        """The vector folded in from live interactions, if any."""
        with self._lock:
            return self._vectors.get(user_id)

    def set_user_vector(self, user_id: str, vector: torch.Tensor) -> None:
        with self._lock:
            if user_id not in self._deleted:
                self._vectors[user_id] = vector


def carry_over(old: LiveGraph, new: LiveGraph) -> dict[str, list[int]]:
    """Re-apply ``old``'s live changes to ``new`` (a graph over a newer snapshot).

    Deleted users stay deleted; users registered live and absent from the new snapshot are
    registered again; live interactions that the new snapshot does not already hold (same
    user, item, kind and time) are added again, those with items it lacks are dropped.

    Returns:
        User id -> item indices (in ``new``) of the interactions carried over, for fold-in.
    """
    for user_id in old.deleted:
        new.delete_user(user_id)
    new.add_users(old.privacy_settings())
    new.add_users(u for u in old.new_users() if u.user_id not in new.snapshot.user_index)
    carried: dict[str, list[int]] = {}
    present: dict[str, set[tuple[int, int, int]]] = {}
    for row in old.live_interactions():
        item = new.snapshot.item_index.get(row.item_id)
        if item is None or new.is_deleted(row.user_id):
            continue
        if row.user_id not in present:
            hist = new.history(row.user_id)
            present[row.user_id] = set(
                zip(hist.items.tolist(), hist.kinds.tolist(), hist.ts.tolist(), strict=True)
            )
        if (item, INTERACTION_KINDS.index(row.kind), row.ts) in present[row.user_id]:
            continue
        if not new.has_user(row.user_id):
            new.add_users([User(row.user_id)])
        new.add_interactions([row])
        carried.setdefault(row.user_id, []).append(item)
    return carried
