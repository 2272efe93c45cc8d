"""The ``GraphStore`` protocol that every backend (embedded SQLite, Neo4j) implements.

Writes are idempotent batched upserts (MERGE semantics): re-sending a row changes nothing.
Reads for export page through each entity ordered by its id, so any store yields the same
snapshot from the same data.

Live writes (the API's events and deletions) also go to a **change log** in the same
transaction: each write gets the next number of one sequence shared by every process on the
store, so API replicas read the writes made since their watermark
(:meth:`GraphStore.changes_since`) and converge. Deleting a user also purges their earlier
entries from the log and logs the deletion (the user id only), so replicas forget them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from graph.schema import UNKNOWN_TS, Friendship, Interaction, Item, User
from graph.serve_log import ServeLog


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Row counts of a store (friendships counted as stored: mutual ones once)."""

    users: int
    items: int
    friendships: int
    interactions: int


class StoreUnavailableError(RuntimeError):
    """The backing database cannot be reached (or refused the credentials)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One logged live write: registered ``users`` and ``interactions`` (in the order written),
    or the deletion of ``deleted_user``. ``seq`` orders writes across every process."""

    seq: int
    users: tuple[User, ...] = ()
    interactions: tuple[Interaction, ...] = ()
    deleted_user: str | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Writes read from the change log after some sequence number ``after``."""

    #: Writes with ``after < seq <= upto``, in sequence order.
    changes: tuple[Change, ...]
    #: Every write up to this number has been returned (the next page starts after it).
    upto: int
    #: The last number the sequence gave out when the page was read (0: nothing logged yet).
    head: int


#: Columns of a change-log row besides its key ``(seq, pos)``, in storage order.
CHANGE_FIELDS: Final[tuple[str, ...]] = (
    "op",
    "user_id",
    "item_id",
    "kind",
    "ts",
    "value",
    "region",
    "signup_ts",
    "private",
)


def change_rows(users: Sequence[User], interactions: Sequence[Interaction]) -> list[dict[str, Any]]:
    """The change-log rows of one write (``pos`` numbered from 0; ``seq`` is added by the
    store): users first, then interactions, as written."""
    rows: list[dict[str, Any]] = [
        dict.fromkeys(CHANGE_FIELDS)
        | {
            "op": "user",
            "user_id": u.user_id,
            "region": u.region,
            "signup_ts": u.signup_ts,
            "private": u.private,
        }
        for u in users
    ]
    rows += [
        dict.fromkeys(CHANGE_FIELDS)
        | {
            "op": "interaction",
            "user_id": r.user_id,
            "item_id": r.item_id,
            "kind": r.kind,
            "ts": r.ts,
            "value": r.value,
        }
        for r in interactions
    ]
    return [row | {"pos": pos} for pos, row in enumerate(rows)]


InteractionKey = tuple[str, str, str, int]


def changed_rows(
    users: Sequence[User],
    interactions: Sequence[Interaction],
    stored_users: Mapping[str, User],
    stored_values: Mapping[InteractionKey, float],
) -> tuple[list[User], list[Interaction]]:
    """The rows of a write that change the store, in order, each once: a user the store lacks
    or with a given field (not ``None`` / ``UNKNOWN_TS``) that differs from the stored one; an
    interaction whose key (user, item, kind, ts) the store lacks or holds with another value.
    ``stored_*`` are what the store holds for the write's users and interaction keys."""
    new_users: list[User] = []
    seen_users: dict[str, User] = dict(stored_users)
    for user in users:
        held = seen_users.get(user.user_id)
        if held is not None and _same_user(user, held):
            continue
        new_users.append(user)
        seen_users[user.user_id] = merged_user(user, held)
    new_rows: list[Interaction] = []
    values: dict[InteractionKey, float] = dict(stored_values)
    for row in interactions:
        key = (row.user_id, row.item_id, row.kind, row.ts)
        if values.get(key) == row.value:
            continue
        new_rows.append(row)
        values[key] = row.value
    return new_users, new_rows


def _same_user(user: User, held: User) -> bool:
    return (
        user.region in (None, held.region)
        and user.signup_ts in (UNKNOWN_TS, held.signup_ts)
        and user.private in (None, held.private)
    )


def merged_user(user: User, held: User | None) -> User:
    """``user`` with its absent fields taken from ``held`` (what an upsert stores)."""
    if held is None:
        return user
    return User(
        user.user_id,
        held.region if user.region is None else user.region,
        held.signup_ts if user.signup_ts == UNKNOWN_TS else user.signup_ts,
        held.private if user.private is None else user.private,
    )


def check_compaction(upto: int) -> None:
    """Validate the argument of :meth:`GraphStore.compact_changes`."""
    if upto < 0:
        raise ValueError(f"upto must be >= 0, got {upto}")


def log_head(store: GraphStore) -> int:
    """The last sequence number the store's change log gave out (0: nothing logged)."""
    return store.changes_since(0, 1).head


def deletion_row(user_id: str) -> dict[str, Any]:
    """The change-log row that deletes ``user_id``."""
    return dict.fromkeys(CHANGE_FIELDS) | {"op": "delete", "user_id": user_id, "pos": 0}


def check_page_request(after: int, limit: int) -> None:
    """Validate the arguments of :meth:`GraphStore.changes_since`.

    Raises:
        ValueError: if ``after < 0`` or ``limit < 1``.
    """
    if after < 0:
        raise ValueError(f"after must be a sequence number >= 0, got {after}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")


def changes_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Change]:
    """Group change-log rows sorted by ``(seq, pos)`` into writes.

    Raises:
        ValueError: naming the row, if its ``op`` is not a change-log operation.
    """
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(int(row["seq"]), []).append(row)
    changes: list[Change] = []
    for seq, group in grouped.items():
        users: list[User] = []
        interactions: list[Interaction] = []
        deleted: str | None = None
        for row in group:
            op = row["op"]
            if op == "user":
                private = row.get("private")
                users.append(
                    User(
                        row["user_id"],
                        row["region"],
                        int(row["signup_ts"]),
                        None if private is None else bool(private),
                    )
                )
            elif op == "interaction":
                interactions.append(
                    Interaction(
                        row["user_id"],
                        row["item_id"],
                        row["kind"],
                        float(row["value"]),
                        int(row["ts"]),
                    )
                )
            elif op == "delete":
                deleted = row["user_id"]
            else:
                raise ValueError(
                    f"change log row (seq {seq}, pos {row['pos']}) has op {op!r}; "
                    "expected user, interaction or delete"
                )
        changes.append(Change(seq, tuple(users), tuple(interactions), deleted))
    return changes


@runtime_checkable
class GraphStore(ServeLog, Protocol):
    """A persistent social-commerce graph, with its serve log (:mod:`graph.serve_log`).

    All ``upsert_*`` methods take one batch, write it in one transaction and return the
    number of rows in the batch; rows must already be validated (see ``graph.validate``)
    and friendships canonical (``graph.schema.canonical_friendship``).
    """

    kind: str

    def upsert_users(self, rows: Sequence[User]) -> int: ...

    def upsert_items(self, rows: Sequence[Item]) -> int: ...

    def upsert_friendships(self, rows: Sequence[Friendship]) -> int: ...

    def upsert_interactions(self, rows: Sequence[Interaction]) -> int: ...

    def existing_user_ids(self, user_ids: Iterable[str]) -> set[str]:
        """Return the subset of ``user_ids`` present in the store."""
        ...

    def existing_item_ids(self, item_ids: Iterable[str]) -> set[str]:
        """Return the subset of ``item_ids`` present in the store."""
        ...

    def delete_user(self, user_id: str) -> bool:
        """Remove a user with all their friendships and interactions; False if absent.

        In the same transaction, the user's entries in the change log are purged and the
        deletion is logged (also when the user was absent: replicas may still serve them),
        and the user's serves and attributions leave the serve log.
        """
        ...

    def write_events(self, users: Sequence[User], interactions: Sequence[Interaction]) -> int:
        """Upsert ``users``, then ``interactions``, and log the rows that change the store
        (:func:`changed_rows`) as one write, in one transaction. Returns the write's sequence
        number; a write that changes nothing (empty, or sent before) logs nothing and
        returns 0."""
        ...

    def compact_changes(self, upto: int, *, keep_deletions: bool = True) -> int:
        """Remove the logged writes numbered ``upto`` or lower (those an export taken at head
        ``upto`` holds), except deletions while ``keep_deletions``: a replica on an older
        snapshot must still forget those users. Returns the log rows removed.

        Raises:
            ValueError: if ``upto < 0``.
        """
        ...

    def changes_since(self, after: int, limit: int = 100) -> ChangePage:
        """The next up to ``limit`` logged writes with a sequence number above ``after``, read
        in one transaction. A ``head`` below ``after`` means the log was started afresh (a new
        database): read it again from 0.

        Raises:
            ValueError: if ``after < 0`` or ``limit < 1``.
        """
        ...

    def counts(self) -> StoreCounts: ...

    def ping(self) -> None:
        """One cheap round trip to the backing database (a health probe).

        Raises:
            StoreUnavailableError: if the database does not answer.
        """
        ...

    def iter_users(self, batch_size: int = 10_000) -> Iterator[list[User]]:
        """Yield all users in pages, ordered by ``user_id``."""
        ...

    def iter_items(self, batch_size: int = 10_000) -> Iterator[list[Item]]: ...

    def iter_friendships(self, batch_size: int = 10_000) -> Iterator[list[Friendship]]:
        """Yield stored friendships ordered by (user_id, friend_id, kind)."""
        ...

    def iter_interactions(self, batch_size: int = 10_000) -> Iterator[list[Interaction]]:
        """Yield interactions ordered by (user_id, item_id, kind, ts)."""
        ...

    def close(self) -> None: ...
