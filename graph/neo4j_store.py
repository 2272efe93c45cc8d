"""A :class:`graph.store.GraphStore` on a Neo4j 5 (or other Bolt) server via the official driver.

Graph model::

    (:User {id, region, signup_ts, private})   (:Item {id, category, price, in_stock})
    (:User)-[:FRIEND]->(:User)        mutual, stored once from the smaller id to the larger
    (:User)-[:FOLLOWS]->(:User)       directed
    (:User)-[:INTERACTED {kind, ts, value}]->(:Item)
    (:Change {seq, pos, op, user_id, ...})  the change log (graph.store), sequence in
    (:ChangeSeq {id: 'changes', seq})
    (:Serve {...}), (:Attribution {...})  the serve log (graph.serve_log_cypher)

Interactions use ONE relationship type with a ``kind`` property rather than one type per kind:
an interaction's identity is (user, item, kind, ts), so ``MERGE`` on ``{kind, ts}`` keeps the
upsert one parameterised statement for every kind (no Cypher built from data), export and
counts are one pattern, and adding a kind needs no schema change. ``ts`` is never null
(unknown times are ``graph.schema.UNKNOWN_TS``), so it is a valid ``MERGE`` key; optional
node properties (region, category, price) are only ``SET``, never merged on.

Writes are ``UNWIND $rows AS r MERGE ...`` batches in managed write transactions
(``execute_write``), which the driver retries on transient failures; ``MERGE`` makes a retry
or a re-run idempotent. Reads go through ``execute_read`` and page by the uniquely indexed
``id`` (keyset: ``WHERE id > $after ORDER BY id LIMIT $n``), yielding exactly the order the
protocol defines, so an export equals the SQLite store's export of the same data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, LiteralString, cast

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    ConstraintError,
    ServiceUnavailable,
    SessionExpired,
)

from graph import cypher, serve_log_cypher
from graph.neo4j_serve_log import Neo4jServeLog, purge_serves
from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.store import (
    ChangePage,
    InteractionKey,
    StoreCounts,
    StoreUnavailableError,
    change_rows,
    changed_rows,
    changes_from_rows,
    check_compaction,
    check_page_request,
    deletion_row,
)

_CONNECTION_ERRORS = (ServiceUnavailable, SessionExpired, ConnectionError, OSError)
#: Attempts of a change-logging write that lost a race for its sequence number.
_LOGGED_WRITE_ATTEMPTS = 20


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.user_id,
        "region": user.region,
        "signup_ts": user.signup_ts,
        "private": user.private,
    }


class Neo4jStore(Neo4jServeLog):
    """A graph store on a Bolt server (Neo4j 5, or ArcadeDB in tests).

    Args:
        uri: Bolt URI, e.g. ``bolt://127.0.0.1:7687`` or ``neo4j://host:7687``.
        user: User name.
        password: Password (never logged or put in an error message).
        database: Database name, passed explicitly on every call.
        max_retry_time: Seconds the driver keeps retrying a failed managed transaction.
        connection_timeout: Seconds to wait when opening a connection.

    Raises:
        ValueError: if ``uri`` or ``database`` is empty or a timeout is not positive.
        graph.store.StoreUnavailableError: if the server cannot be reached or rejects
            the credentials.
    """

    kind = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str,
        *,
        max_retry_time: float = 30.0,
        connection_timeout: float = 10.0,
    ) -> None:
        if not uri:
            raise ValueError(f"uri must be a Bolt URI, got {uri!r}")
        if not database:
            raise ValueError(f"database must be a database name, got {database!r}")
        if max_retry_time <= 0:
            raise ValueError(f"max_retry_time must be > 0, got {max_retry_time}")
        if connection_timeout <= 0:
            raise ValueError(f"connection_timeout must be > 0, got {connection_timeout}")
        self.uri = uri
        self.database = database
        self._user = user
        try:
            self._driver: Driver = GraphDatabase.driver(
                uri,
                auth=(user, password),
                max_transaction_retry_time=max_retry_time,
                connection_timeout=connection_timeout,
            )
        except (ValueError, ConfigurationError) as exc:  # malformed URI or scheme
            raise ValueError(f"uri is not a valid Bolt URI: {uri!r} ({exc})") from exc
        try:
            self._driver.verify_connectivity()
            for statement in (*cypher.CONSTRAINTS, *serve_log_cypher.CONSTRAINTS):
                self._driver.execute_query(_q(statement), database_=database)
        except BaseException as exc:
            self._driver.close()
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> BaseException:
        if isinstance(exc, AuthError):
            return StoreUnavailableError(
                f"Neo4j at {self.uri} rejected the credentials of user {self._user!r}: "
                "check SOCIALREC_NEO4J_USER / SOCIALREC_NEO4J_PASSWORD"
            )
        if isinstance(exc, _CONNECTION_ERRORS):
            return StoreUnavailableError(
                f"cannot reach Neo4j at {self.uri} (database {self.database!r}): "
                f"{type(exc).__name__}: {exc}; is the server running and SOCIALREC_NEO4J_URI right?"
            )
        return exc

    def _write(self, query: str, rows: list[dict[str, Any]], *, param: str = "rows") -> int:
        if not rows:
            return 0

        def work(tx: ManagedTransaction) -> None:
            tx.run(_q(query), {param: rows}).consume()

        self._session_call("write", work)
        return len(rows)

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [record.data() for record in tx.run(_q(query), **params)]

        return cast(list[dict[str, Any]], self._session_call("read", work))

    def _session_call(self, mode: str, work: Any) -> Any:
        try:
            with self._driver.session(database=self.database) as session:
                if mode == "write":
                    return session.execute_write(work)
                return session.execute_read(work)
        except (*_CONNECTION_ERRORS, AuthError) as exc:
            raise self._unavailable(exc) from exc

    def upsert_users(self, rows: Sequence[User]) -> int:
        return self._write(
            cypher.UPSERT_USERS,
            [_user_row(u) for u in rows],
        )

    def upsert_items(self, rows: Sequence[Item]) -> int:
        return self._write(
            cypher.UPSERT_ITEMS,
            [
                {"id": i.item_id, "category": i.category, "price": i.price, "in_stock": i.in_stock}
                for i in rows
            ],
        )

    def upsert_friendships(self, rows: Sequence[Friendship]) -> int:
        stored = [canonical_friendship(r) for r in rows]
        friends = [
            {"user_id": r.user_id, "friend_id": r.friend_id} for r in stored if r.kind == "friend"
        ]
        follows = [
            {"user_id": r.user_id, "friend_id": r.friend_id} for r in stored if r.kind != "friend"
        ]
        if not rows:
            return 0

        def work(tx: ManagedTransaction) -> None:
            if friends:
                tx.run(_q(cypher.UPSERT_FRIENDS), rows=friends).consume()
            if follows:
                tx.run(_q(cypher.UPSERT_FOLLOWS), rows=follows).consume()

        self._session_call("write", work)
        return len(rows)

    def upsert_interactions(self, rows: Sequence[Interaction]) -> int:
        self._write(cypher.UPSERT_INTERACTIONS, _interaction_groups(rows), param="groups")
        return len(rows)

    def upsert_interaction_single(self, row: Interaction) -> None:
        """Write one interaction with one query (the benchmark's per-row baseline)."""

        def work(tx: ManagedTransaction) -> None:
            tx.run(
                _q(cypher.UPSERT_INTERACTION_ONE),
                user_id=row.user_id,
                item_id=row.item_id,
                kind=row.kind,
                ts=row.ts,
                value=row.value,
            ).consume()

        self._session_call("write", work)

    def _existing(self, query: str, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 10_000):
            chunk = wanted[start : start + 10_000]
            found.update(row["id"] for row in self._read(query, ids=chunk))
        return found

    def existing_user_ids(self, user_ids: Iterable[str]) -> set[str]:
        return self._existing(cypher.EXISTING_USERS, user_ids)

    def existing_item_ids(self, item_ids: Iterable[str]) -> set[str]:
        return self._existing(cypher.EXISTING_ITEMS, item_ids)

    def delete_user(self, user_id: str) -> bool:
        def work(tx: ManagedTransaction) -> bool:
            found = tx.run(_q(cypher.FIND_USER), id=user_id).single() is not None
            if found:
                tx.run(_q(cypher.DELETE_USER), id=user_id).consume()
            tx.run(_q(cypher.PURGE_USER_CHANGES), id=user_id).consume()
            purge_serves(tx, user_id)
            _log_changes(tx, [deletion_row(user_id)])
            return found

        return bool(self._logged_write(work))

    def compact_changes(self, upto: int, *, keep_deletions: bool = True) -> int:
        check_compaction(upto)

        def work(tx: ManagedTransaction) -> int:
            result = tx.run(_q(cypher.COMPACT_CHANGES), upto=upto, keep_deletions=keep_deletions)
            return int(result.single(strict=True)["n"])

        return int(self._session_call("write", work))

    def write_events(self, users: Sequence[User], interactions: Sequence[Interaction]) -> int:
        if not users and not interactions:
            return 0
        keys = [
            {"user_id": r.user_id, "item_id": r.item_id, "kind": r.kind, "ts": r.ts}
            for r in interactions
        ]

        def work(tx: ManagedTransaction) -> int:
            ids = list({u.user_id for u in users})
            stored = {
                r["id"]: User(r["id"], r["region"], int(r["signup_ts"]), r["private"])
                for r in tx.run(_q(cypher.USERS_BY_ID), ids=ids)
            }
            values: dict[InteractionKey, float] = {
                (r["user_id"], r["item_id"], r["kind"], int(r["ts"])): float(r["value"])
                for r in tx.run(_q(cypher.INTERACTION_VALUES), rows=keys)
            }
            new_users, new_rows = changed_rows(users, interactions, stored, values)
            rows = change_rows(new_users, new_rows)
            if not rows:
                return 0
            if new_users:
                tx.run(_q(cypher.UPSERT_USERS), rows=[_user_row(u) for u in new_users]).consume()
            if new_rows:
                groups = _interaction_groups(new_rows)
                tx.run(_q(cypher.UPSERT_INTERACTIONS), groups=groups).consume()
            return _log_changes(tx, rows)  # last: the sequence node stays locked until commit

        return int(self._logged_write(work))

    def _logged_write(self, work: Any) -> Any:
        """Run a write that logs a change, again if it lost a race for its sequence number.

        Neo4j serialises the increment on the sequence node's write lock. Servers with
        optimistic concurrency (ArcadeDB) let two transactions read the same number; the
        second to commit then violates the uniqueness of ``(:Change {seq, pos})`` (or, for
        the very first write, of the sequence node itself) and is rolled back whole, so it is
        safe to run again.
        """
        for attempt in range(1, _LOGGED_WRITE_ATTEMPTS):
            try:
                return self._session_call("write", work)
            except ConstraintError:
                time.sleep(random.uniform(0, 0.02 * attempt))  # spread the contenders
        return self._session_call("write", work)  # the last attempt raises what it meets

    def changes_since(self, after: int, limit: int = 100) -> ChangePage:
        check_page_request(after, limit)

        def work(tx: ManagedTransaction) -> ChangePage:
            head = int(tx.run(_q(cypher.CHANGE_HEAD)).single(strict=True)["seq"])
            seqs = [
                int(r["seq"])
                for r in tx.run(_q(cypher.CHANGE_SEQS), after=after, upto=head, n=limit)
            ]
            upto = seqs[-1] if len(seqs) == limit else head
            rows = [r.data() for r in tx.run(_q(cypher.CHANGES_BETWEEN), after=after, upto=upto)]
            return ChangePage(tuple(changes_from_rows(rows)), upto, head)

        return cast(ChangePage, self._session_call("read", work))

    def counts(self) -> StoreCounts:
        def count(query: str) -> int:
            return int(self._read(query)[0]["n"])

        return StoreCounts(
            users=count(cypher.COUNT_USERS),
            items=count(cypher.COUNT_ITEMS),
            friendships=count(cypher.COUNT_FRIENDSHIPS),
            interactions=count(cypher.COUNT_INTERACTIONS),
        )

    def ping(self) -> None:
        """Check the server answers: a liveness round trip on a pooled connection (dead
        pooled connections are dropped, a new one is opened within ``connection_timeout``).
        No transaction, so no retries: a server that is down fails at once."""
        try:
            self._driver.verify_connectivity()
        except (*_CONNECTION_ERRORS, AuthError) as exc:
            raise self._unavailable(exc) from exc

    def _pages(self, query: str, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        after = ""
        while True:
            page = self._read(query, after=after, n=batch_size)
            if not page:
                return
            yield page
            after = page[-1]["id"]

    def iter_users(self, batch_size: int = 10_000) -> Iterator[list[User]]:
        for page in self._pages(cypher.PAGE_USERS, batch_size):
            yield [User(r["id"], r["region"], int(r["signup_ts"]), r.get("private")) for r in page]

    def iter_items(self, batch_size: int = 10_000) -> Iterator[list[Item]]:
        for page in self._pages(cypher.PAGE_ITEMS, batch_size):
            yield [
                Item(
                    r["id"],
                    r["category"],
                    None if r["price"] is None else float(r["price"]),
                    bool(r["in_stock"]),
                )
                for r in page
            ]

    def _edges_by_user(
        self, query: str, key: tuple[str, ...], batch_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Relationship rows of each page of source users, sorted by ``key``, in pages of
        ``batch_size``."""
        pending: list[dict[str, Any]] = []
        for users in self._pages(cypher.PAGE_USER_IDS, batch_size):
            rows = self._read(query, ids=[u["id"] for u in users])
            pending.extend(sorted(rows, key=lambda r: tuple(r[k] for k in key)))
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
        if pending:
            yield pending

    def iter_friendships(self, batch_size: int = 10_000) -> Iterator[list[Friendship]]:
        key = ("user_id", "friend_id", "kind")
        for page in self._edges_by_user(cypher.FRIENDSHIPS_OF, key, batch_size):
            yield [Friendship(r["user_id"], r["friend_id"], r["kind"]) for r in page]

    def iter_interactions(self, batch_size: int = 10_000) -> Iterator[list[Interaction]]:
        key = ("user_id", "item_id", "kind", "ts")
        for page in self._edges_by_user(cypher.INTERACTIONS_OF, key, batch_size):
            yield [
                Interaction(r["user_id"], r["item_id"], r["kind"], float(r["value"]), int(r["ts"]))
                for r in page
            ]

    def close(self) -> None:
        """Close the driver (idempotent)."""
        self._driver.close()


def _interaction_groups(rows: Sequence[Interaction]) -> list[dict[str, Any]]:
    """Interactions grouped by user, the shape ``cypher.UPSERT_INTERACTIONS`` takes."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.user_id, []).append(
            {"item_id": r.item_id, "kind": r.kind, "ts": r.ts, "value": r.value}
        )
    return [{"user_id": user, "rows": group} for user, group in groups.items()]


def _log_changes(tx: ManagedTransaction, rows: list[dict[str, Any]]) -> int:
    """Append one write's rows to the change log under the next sequence number."""
    seq = int(tx.run(_q(cypher.NEXT_CHANGE_SEQ)).single(strict=True)["seq"])
    tx.run(_q(cypher.LOG_CHANGES), seq=seq, rows=rows).consume()
    return seq


def _q(text: str) -> LiteralString:
    """Mark a constant from :mod:`graph.cypher` as a query string for the driver's typing."""
    return cast(LiteralString, text)
