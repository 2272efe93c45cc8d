"""Columnar validation: batches of rows in, rows to store and rejections out.

Every row is checked; a bad row becomes a :class:`Rejection` (file, line, field, value, reason)
and never aborts the load (the checks and reasons: :mod:`graph.rowcheck`). A batch
(:class:`graph.columns.ColumnBatch`) is validated column by column: plain rows (printable
ASCII, well formed) whose every field passes a vectorised Arrow check (ids present, no
surrounding spaces, at most :data:`MAX_ID_CHARS` long and known; kinds in their lists;
numbers and epoch timestamps in plain decimal digits, within range) are accepted without
touching Python per field; every other row goes through the exact per-row checks of
:class:`graph.rowcheck.RowParser`, which give the same verdict the vectorised checks would and
the reason of a rejection.

Duplicates within the load (the same key as an earlier accepted row; a mutual friendship
listed again in the reverse direction is the same row, accepted once) are found with integer
keys: users and items get a code when first known, and edge keys pack those codes with the
kind and time (:class:`graph.keyindex.KeyIndex`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from graph.columns import ColumnBatch, batches_from_rows
from graph.keyindex import KeyIndex
from graph.readers import TABLE_COLUMNS, RawRow, TableSource
from graph.rowcheck import (
    KEY_FIELDS,
    MAX_FUTURE_S,
    MAX_ID_CHARS,
    MAX_RATING,
    MAX_SHOWN,
    Reject,
    Rejection,
    RowParser,
    parse_timestamp,
    shown,
)
from graph.schema import (
    FRIENDSHIP_KINDS,
    INTERACTION_KINDS,
    UNKNOWN_TS,
    Friendship,
    Interaction,
    Item,
    User,
)
from graph.store import GraphStore

__all__ = [
    "MAX_FUTURE_S",
    "MAX_ID_CHARS",
    "MAX_RATING",
    "MAX_SHOWN",
    "Rejection",
    "StoreRow",
    "Validator",
    "parse_timestamp",
    "shown",
    "to_schema",
]

#: A row to store, in the store's column order: users (id, region, signup_ts, private),
#: items (id, category, price, in_stock), friendships (user_id, friend_id, kind; canonical),
#: interactions (user_id, item_id, kind, ts, value).
StoreRow = tuple[Any, ...]
_NUMBER: Final[str] = r"^[0-9]{1,15}(\.[0-9]{1,15})?$"
_EPOCH: Final[str] = r"^[0-9]{1,15}$"
_FLAGS_TRUE: Final = pa.array(["true", "1", "yes"])
_FLAGS: Final = pa.array(["true", "1", "yes", "false", "0", "no"])
_FRIENDSHIP_KINDS: Final = pa.array(list(FRIENDSHIP_KINDS))
_INTERACTION_KINDS: Final = pa.array(list(INTERACTION_KINDS))
_CODE_LIMIT: Final[int] = 1 << 32


def _np(array: pa.Array | pa.ChunkedArray) -> NDArray[Any]:
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _true(mask: pa.Array) -> NDArray[np.bool_]:
    """A boolean Arrow array as numpy, null as False."""
    return _np(pc.fill_null(mask, False)).astype(np.bool_)


def _id_ok(column: pa.StringArray) -> NDArray[np.bool_]:
    """Present, no surrounding space, at most MAX_ID_CHARS (plain rows: bytes = chars)."""
    ok = pc.and_(
        pc.less_equal(pc.binary_length(column), MAX_ID_CHARS),
        pc.invert(pc.or_(pc.starts_with(column, " "), pc.ends_with(column, " "))),
    )
    return _true(ok)


def _optional(column: pa.StringArray, pattern: str) -> NDArray[np.bool_]:
    """Empty, or matching ``pattern``."""
    return _true(pc.or_(pc.is_null(column), pc.match_substring_regex(column, pattern)))


def _cast(column: pa.StringArray, ok: NDArray[np.bool_], kind: pa.DataType) -> pa.Array:
    """``column`` cast to ``kind`` where ``ok`` and present (null elsewhere)."""
    usable = pc.and_(pa.array(ok), pc.is_valid(column))
    return pc.if_else(usable, column, pa.scalar(None, pa.string())).cast(kind)


def _flag(column: pa.StringArray) -> tuple[NDArray[np.bool_], pa.Array]:
    """(valid, value): empty or one of true/false/1/0/yes/no in any case."""
    lower = pc.utf8_lower(column)
    ok = _true(pc.or_(pc.is_null(column), pc.is_in(lower, value_set=_FLAGS)))
    return ok, pc.if_else(pc.is_null(column), None, pc.is_in(lower, value_set=_FLAGS_TRUE))


def _arrow_lookup(known: dict[str, int], column: pa.StringArray) -> bool:
    """Whether to look ``column``'s ids up with Arrow (``index_in``/``is_in`` over all known
    ids) rather than one dict lookup per distinct value: Arrow hashes every known id on each
    call, which pays while they are no more than the column's values (with 1M known users, a
    100k-row batch took 0.22 s that way against 0.10 s by the dict)."""
    return len(known) <= len(column)


def _in(column: pa.StringArray, values: pa.StringArray) -> NDArray[np.bool_]:
    return _true(pc.is_in(column, value_set=values))


class Validator:
    """Validates the tables of one load in order: users, items, friendships, interactions.

    It gives every user and item a code when it becomes known (accepted in this load, or
    found in ``store`` when referenced), remembers the keys accepted so far (to find
    duplicates) and asks ``store`` about ids not seen in this load.

    Args:
        store: The store being loaded (for references to users/items loaded earlier).
        now: Epoch seconds used for the "too far in the future" check; default: the clock.
    """

    def __init__(self, store: GraphStore, *, now: int | None = None) -> None:
        self._store = store
        self._now = int(time.time()) if now is None else now
        self._users: dict[str, int] = {}
        self._items: dict[str, int] = {}
        self._parser = RowParser(self._now, self._users, self._items)
        self._files: dict[str, list[str]] = {}
        #: users/items: id -> (file number, line) of its first accepted row.
        self._first: dict[str, dict[str, tuple[int, int]]] = {"users": {}, "items": {}}
        self._edges: dict[str, KeyIndex] = {"friendships": KeyIndex(), "interactions": KeyIndex()}
        self._mirrored: set[tuple[int, int]] = set()
        #: id(users or items dict) -> its ids in code order (:meth:`_known_ids`).
        self._id_arrays: dict[int, pa.StringArray] = {}

    # -- the row-based interface (API events) -------------------------------------------------

    def validate_users(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[User], list[Rejection]]:
        """Validate one batch of user rows; return (accepted rows, rejections)."""
        stored, rejected = self._rows(source, rows)
        return [User(*r) for r in stored], rejected

    def validate_interactions(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[Interaction], list[Rejection]]:
        """Validate one batch of interaction rows; return (accepted rows, rejections)."""
        stored, rejected = self._rows(source, rows)
        return [Interaction(u, i, k, v, ts) for u, i, k, ts, v in stored], rejected

    def _rows(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[StoreRow], list[Rejection]]:
        required, optional = TABLE_COLUMNS[source.table]
        stored: list[StoreRow] = []
        rejected: list[Rejection] = []
        for batch in batches_from_rows(rows, (*required, *optional), max(len(rows), 1)):
            stored, rejected = self.validate(source, batch)
        return stored, rejected

    # -- the columnar interface (the loader) ------------------------------------------------

    def validate(
        self, source: TableSource, batch: ColumnBatch
    ) -> tuple[list[StoreRow], list[Rejection]]:
        """Validate one batch of ``source``'s rows; return (rows to store, rejections), both
        in line order."""
        table = source.table
        files = self._files.setdefault(table, [])
        if not files or files[-1] != source.file:
            files.append(source.file)
        if table == "friendships":
            self._resolve(
                batch, ("user_id", "friend_id"), self._users, self._store.existing_user_ids
            )
        elif table == "interactions":
            self._resolve(batch, ("user_id",), self._users, self._store.existing_user_ids)
            self._resolve(batch, ("item_id",), self._items, self._store.existing_item_ids)
        cleared, rows, keys = self._vectorised(table, batch)
        index = np.flatnonzero(cleared)
        exact_index, exact, exact_keys, rejected = self._exact(source, batch, cleared)
        if exact:
            index = np.concatenate((index, exact_index))
            order = np.argsort(index, kind="stable")
            index = index[order]
            merged = rows + exact
            rows = [merged[j] for j in order.tolist()]
            if table in ("friendships", "interactions"):
                keys = _Keys(
                    *(np.concatenate(pair)[order] for pair in zip(keys, exact_keys, strict=True))
                )
        if table in ("users", "items"):
            accepted = self._accept_ids(source, batch, index, rows, rejected)
        else:
            accepted = self._accept_edges(source, batch, index, rows, keys, rejected)
        rejected.sort(key=lambda pair: pair[0])
        return accepted, [r for _, r in rejected]

    def _resolve(
        self,
        batch: ColumnBatch,
        columns: tuple[str, ...],
        known: dict[str, int],
        existing: Callable[[Iterable[str]], set[str]],
    ) -> None:
        """Give codes to the ids of ``columns`` that are not known yet but are in the store."""
        wanted: set[str] = set()
        for name in columns:
            column = batch.columns.get(name)
            if column is not None:
                distinct = pc.unique(column)
                if _arrow_lookup(known, column):
                    new = pc.invert(pc.is_in(distinct, value_set=self._known_ids(known)))
                    distinct = pc.filter(distinct, new)
                wanted.update(v for v in distinct.to_pylist() if v)
            wanted.update(v for r in batch.exact.values() if (v := r.values.get(name)))
        wanted.difference_update(known)
        for uid in sorted(existing(wanted)) if wanted else ():
            known.setdefault(uid, len(known))

    def _known_ids(self, known: dict[str, int]) -> pa.StringArray:
        """The ids of ``known`` in code order, as Arrow (rebuilt when ``known`` has grown)."""
        cached = self._id_arrays.get(id(known))
        if cached is None or len(cached) != len(known):
            cached = self._id_arrays[id(known)] = pa.array(list(known), pa.string())
        return cached

    def _codes(self, column: pa.StringArray, known: dict[str, int]) -> NDArray[np.int64]:
        """The code of each value of ``column`` (-1: unknown or empty)."""
        if _arrow_lookup(known, column):
            codes = pc.index_in(column, value_set=self._known_ids(known))
            return _np(pc.fill_null(codes, -1)).astype(np.int64)
        encoded = pc.dictionary_encode(column)
        get = known.get
        distinct = encoded.dictionary.to_pylist()
        found = np.fromiter((get(v, -1) for v in distinct), np.int64, len(distinct))
        found = np.append(found, -1)  # the code of an empty value
        return found[_np(pc.fill_null(encoded.indices, len(distinct))).astype(np.int64)]

    def _vectorised(
        self, table: str, batch: ColumnBatch
    ) -> tuple[NDArray[np.bool_], list[StoreRow], _Keys]:
        """Rows cleared by the vectorised checks, their parsed form and (edges) keys."""
        c = batch.columns
        none = pa.nulls(len(batch), pa.string())
        col = {n: c.get(n, none) for n in (*TABLE_COLUMNS[table][0], *TABLE_COLUMNS[table][1])}
        ok = batch.plain.copy()
        keys = _Keys.empty()
        if table == "users":
            ok &= _id_ok(col["user_id"]) & _optional(col["signup_ts"], _EPOCH)
            signup = _cast(col["signup_ts"], ok, pa.int64())
            ok &= _true(pc.fill_null(pc.less_equal(signup, self._now + MAX_FUTURE_S), True))
            flag_ok, private = _flag(col["private"])
            ok &= flag_ok
            signup = pc.fill_null(signup, UNKNOWN_TS)
            columns = [col["user_id"], col["region"], signup, private]
        elif table == "items":
            ok &= _id_ok(col["item_id"]) & _optional(col["price"], _NUMBER)
            stock_ok, stock = _flag(col["in_stock"])
            ok &= stock_ok
            price = _cast(col["price"], ok, pa.float64())
            columns = [col["item_id"], col["category"], price, pc.fill_null(stock, True)]
        elif table == "friendships":
            kind = pc.fill_null(col["kind"], "friend")
            user, friend = col["user_id"], col["friend_id"]
            a, b = self._codes(user, self._users), self._codes(friend, self._users)
            ok &= _in(kind, _FRIENDSHIP_KINDS) & _id_ok(user) & _id_ok(friend)
            ok &= (a >= 0) & (b >= 0) & _true(pc.not_equal(user, friend))
            reverse = _true(pc.greater(user, friend))
            kinds = _np(pc.fill_null(pc.index_in(kind, value_set=_FRIENDSHIP_KINDS), 0))
            swap = reverse & (kinds == FRIENDSHIP_KINDS.index("friend"))
            low, high = np.where(swap, b, a), np.where(swap, a, b)
            keys = _Keys.of(low[ok], high[ok], kinds[ok], reverse[ok])
            arrow_swap = pa.array(swap)
            columns = [
                pc.if_else(arrow_swap, friend, user),
                pc.if_else(arrow_swap, user, friend),
                kind,
            ]
        else:
            kind, user, item = col["kind"], col["user_id"], col["item_id"]
            a, b = self._codes(user, self._users), self._codes(item, self._items)
            ok &= _in(kind, _INTERACTION_KINDS) & _id_ok(user) & _id_ok(item) & (a >= 0) & (b >= 0)
            ok &= _optional(col["value"], _NUMBER) & _optional(col["ts"], _EPOCH)
            value = _cast(col["value"], ok, pa.float64())
            rating = pc.equal(kind, "rating")
            ok &= _true(pc.or_(pc.invert(rating), pc.less_equal(value, MAX_RATING)))
            ts = pc.fill_null(_cast(col["ts"], ok, pa.int64()), UNKNOWN_TS)
            ok &= _np(ts) <= self._now + MAX_FUTURE_S
            kinds = _np(pc.fill_null(pc.index_in(kind, value_set=_INTERACTION_KINDS), 0))
            keys = _Keys.of(a[ok], b[ok], _interaction_second(_np(ts)[ok], kinds[ok]))
            columns = [user, item, kind, ts, pc.fill_null(value, 1.0)]
        if not ok.all():
            keep = pa.array(np.flatnonzero(ok))
            columns = [pc.take(column, keep) for column in columns]
        lists = [column.to_pylist() for column in columns]
        return ok, list(zip(*lists, strict=True)) if lists[0] else [], keys

    def _exact(
        self, source: TableSource, batch: ColumnBatch, cleared: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], list[StoreRow], _Keys, list[tuple[int, Rejection]]]:
        """The rows the vectorised checks did not clear, through the exact per-row checks."""
        index: list[int] = []
        rows: list[StoreRow] = []
        parts: list[tuple[int, int, int, bool]] = []
        rejected: list[tuple[int, Rejection]] = []
        for i in np.flatnonzero(~cleared).tolist():
            raw = batch.raw(i)
            try:
                parsed = self._parser.parse(source.table, raw)
            except Reject as bad:
                rejection = Rejection(
                    source.file, raw.line, bad.field, shown(bad.value), bad.reason
                )
                rejected.append((i, rejection))
                continue
            index.append(i)
            row, reverse = _store_row(parsed)
            rows.append(row)
            if isinstance(parsed, Friendship):
                kind = FRIENDSHIP_KINDS.index(parsed.kind)
                parts.append((self._users[row[0]], self._users[row[1]], kind, reverse))
            elif isinstance(parsed, Interaction):
                kind = INTERACTION_KINDS.index(parsed.kind)
                second = int(_interaction_second(np.array([parsed.ts]), np.array([kind]))[0])
                parts.append((self._users[row[0]], self._items[row[1]], second, False))
        keys = _Keys.empty()
        if parts:
            table = np.array([p[:3] for p in parts], dtype=np.int64)
            flags = np.array([p[3] for p in parts], dtype=np.bool_)
            keys = _Keys.of(table[:, 0], table[:, 1], table[:, 2], flags)
        return np.array(index, dtype=np.int64), rows, keys, rejected

    # -- duplicates ---------------------------------------------------------------------------

    def _where(self, source: TableSource, file: int, line: int) -> str:
        name = self._files[source.table][file]
        return f"line {abs(line)}" if name == source.file else f"{name} line {abs(line)}"

    def _duplicate(
        self, source: TableSource, line: int, key: str, file: int, earlier: int
    ) -> Rejection:
        field = ",".join(KEY_FIELDS[source.table])
        reason = f"duplicate of {self._where(source, file, earlier)}"
        return Rejection(source.file, line, field, shown(key), reason)

    def _accept_ids(
        self,
        source: TableSource,
        batch: ColumnBatch,
        index: NDArray[np.int64],
        rows: list[StoreRow],
        rejected: list[tuple[int, Rejection]],
    ) -> list[StoreRow]:
        first = self._first[source.table]
        known = self._users if source.table == "users" else self._items
        file = len(self._files[source.table]) - 1
        lines = batch.lines[index].tolist()
        accepted: list[StoreRow] = []
        for i, line, row in zip(index.tolist(), lines, rows, strict=True):
            key = row[0]
            seen = first.get(key)
            if seen is not None:
                rejected.append((i, self._duplicate(source, line, key, *seen)))
                continue
            first[key] = (file, line)
            known.setdefault(key, len(known))
            accepted.append(row)
        return accepted

    def _accept_edges(
        self,
        source: TableSource,
        batch: ColumnBatch,
        index: NDArray[np.int64],
        rows: list[StoreRow],
        keys: _Keys,
        rejected: list[tuple[int, Rejection]],
    ) -> list[StoreRow]:
        """The rows whose key was not accepted before (a mutual friendship given in both
        directions: the second listing too, once); the others are rejected as duplicates."""
        if not rows:
            return []
        friendships = source.table == "friendships"
        lines = batch.lines[index]
        lines = np.where(keys.reverse, -lines, lines)  # negative: a pair given in reverse
        file = len(self._files[source.table]) - 1
        earlier_file, earlier_line = self._edges[source.table].earlier(
            keys.k1, keys.k2, file, lines
        )
        drop: set[int] = set()
        for j in np.flatnonzero(earlier_file >= 0).tolist():
            line, earlier = int(lines[j]), int(earlier_line[j])
            key = (int(keys.k1[j]), int(keys.k2[j]))
            row = rows[j]
            mirror = friendships and row[2] == "friend" and (earlier < 0) != (line < 0)
            if mirror and key not in self._mirrored:
                self._mirrored.add(key)
                continue
            shown_key = ",".join(row) if friendships else f"{row[0]},{row[1]},{row[2]},{row[3]}"
            duplicate = self._duplicate(source, abs(line), shown_key, int(earlier_file[j]), earlier)
            rejected.append((int(index[j]), duplicate))
            drop.add(j)
        if not drop:
            return rows
        return [row for j, row in enumerate(rows) if j not in drop]


@dataclass(frozen=True, slots=True)
class _Keys:
    """Edge keys of rows: two words (``k1`` = first code << 32 | second code, ``k2`` = the
    kind, or for interactions (ts + 1) << 3 | kind) and whether the row was given reversed."""

    k1: NDArray[np.uint64]
    k2: NDArray[np.uint64]
    reverse: NDArray[np.bool_]

    @classmethod
    def empty(cls) -> _Keys:
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.bool_))

    @classmethod
    def of(
        cls,
        a: NDArray[np.int64],
        b: NDArray[np.int64],
        second: NDArray[np.int64],
        reverse: NDArray[np.bool_] | None = None,
    ) -> _Keys:
        if len(a) and max(int(a.max()), int(b.max())) >= _CODE_LIMIT:
            raise ValueError(f"a load holds at most {_CODE_LIMIT} distinct ids per kind")
        k1 = (a.astype(np.uint64) << np.uint64(32)) | b.astype(np.uint64)
        flags = np.zeros(len(a), np.bool_) if reverse is None else reverse
        return cls(k1, second.astype(np.uint64), flags)

    def __iter__(self) -> Iterator[NDArray[Any]]:
        return iter((self.k1, self.k2, self.reverse))


def _interaction_second(ts: NDArray[np.int64], kinds: NDArray[np.int64]) -> NDArray[np.int64]:
    return ((ts.astype(np.int64) + 1) << 3) | kinds.astype(np.int64)


def _store_row(parsed: User | Item | Friendship | Interaction) -> tuple[StoreRow, bool]:
    """The row to store and whether it was given in reverse order (friendships)."""
    if isinstance(parsed, User):
        return (parsed.user_id, parsed.region, parsed.signup_ts, parsed.private), False
    if isinstance(parsed, Item):
        return (parsed.item_id, parsed.category, parsed.price, parsed.in_stock), False
    if isinstance(parsed, Friendship):  # canonical
        reverse = parsed.user_id > parsed.friend_id
        if parsed.kind == "friend" and reverse:
            return (parsed.friend_id, parsed.user_id, "friend"), reverse
        return (parsed.user_id, parsed.friend_id, parsed.kind), reverse
    return (parsed.user_id, parsed.item_id, parsed.kind, parsed.ts, parsed.value), False


def to_schema(table: str, row: StoreRow) -> User | Item | Friendship | Interaction:
    """A stored row as its schema object (for stores without a bulk path)."""
    if table == "users":
        return User(*row)
    if table == "items":
        return Item(*row)
    if table == "friendships":
        return Friendship(*row)
    user_id, item_id, kind, ts, value = row
    return Interaction(user_id, item_id, kind, value, ts)
