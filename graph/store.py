"""The ``GraphStore`` protocol that every backend (embedded SQLite, Neo4j) implements.

Writes are idempotent batched upserts (MERGE semantics): re-sending a row changes nothing.
Reads for export page through each entity ordered by its id, so any store yields the same
snapshot from the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from graph.schema import Friendship, Interaction, Item, User


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Row counts of a store (friendships counted as stored: mutual ones once)."""

    users: int
    items: int
    friendships: int
    interactions: int


class StoreUnavailableError(RuntimeError):
    """The backing database cannot be reached (or refused the credentials)."""


@runtime_checkable
class GraphStore(Protocol):
    """A persistent social-commerce graph.

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
        """Remove a user with all their friendships and interactions; False if absent."""
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
