"""The row-by-row validator and load loop that ``graph.validate``/``graph.load`` replaced.

Kept only as the reference of tests/graph/test_columnar_equivalence.py: it validates one
:class:`graph.readers.RawRow` at a time (rows from ``TableSource.rows``, i.e. the ``csv``
module reader) and writes accepted rows with the store's ``upsert_*`` methods, exactly as the
loader did before the columnar path. The per-row parsing functions are the library's own
(``graph.validate``), so the reference pins the batch loop, the duplicate rules and the order
of the rejects report.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from graph.readers import TABLES, RawRow, TableSource
from graph.rowcheck import KEY_FIELDS, SURROGATE, Reject, Rejection, RowParser, shown
from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.store import GraphStore

_SEP = "\x1f"


def _friendship_key(f: Friendship) -> str:
    c = canonical_friendship(f)
    return f"{c.user_id}{_SEP}{c.friend_id}{_SEP}{c.kind}"


def _interaction_key(r: Interaction) -> str:
    return f"{r.user_id}{_SEP}{r.item_id}{_SEP}{r.kind}{_SEP}{r.ts}"


class RowwiseValidator:
    """The pre-columnar ``graph.validate.Validator`` (one row at a time)."""

    def __init__(self, store: GraphStore, *, now: int) -> None:
        self._store = store
        self._users: set[str] = set()
        self._items: set[str] = set()
        self._parser = RowParser(now, self._users, self._items)
        self._seen: dict[str, list[tuple[str, dict[str, int]]]] = {}
        self._mirrored: set[str] = set()

    def validate(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[Any], list[Rejection]]:
        """Validate one batch of ``source``'s rows."""
        p = self._parser
        if source.table == "users":
            return self._batch(source, rows, p.user, lambda u: u.user_id)
        if source.table == "items":
            return self._batch(source, rows, p.item, lambda i: i.item_id)
        if source.table == "friendships":
            self._resolve(
                rows, ("user_id", "friend_id"), self._users, self._store.existing_user_ids
            )
            return self._batch(source, rows, p.friendship, _friendship_key)
        self._resolve(rows, ("user_id",), self._users, self._store.existing_user_ids)
        self._resolve(rows, ("item_id",), self._items, self._store.existing_item_ids)
        return self._batch(source, rows, p.interaction, _interaction_key)

    @staticmethod
    def _resolve(
        rows: Sequence[RawRow],
        columns: tuple[str, ...],
        known: set[str],
        existing: Callable[[Iterable[str]], set[str]],
    ) -> None:
        wanted = {v for r in rows for c in columns if (v := r.values.get(c)) and v not in known}
        if wanted:
            known |= existing(wanted)

    def _batch(
        self,
        source: TableSource,
        rows: Sequence[RawRow],
        parse: Callable[[RawRow], Any],
        key: Callable[[Any], str],
    ) -> tuple[list[Any], list[Rejection]]:
        table = self._seen.setdefault(source.table, [])
        if not table or table[-1][0] != source.file:
            table.append((source.file, {}))
        seen = table[-1][1]
        accepted: list[Any] = []
        rejected: list[Rejection] = []
        for row in rows:
            try:
                for name, value in row.values.items():
                    if value is not None and SURROGATE.search(value):
                        raise Reject(name, value, f"invalid UTF-8 in {name}")
                if row.malformed is not None:
                    raise Reject("(row)", None, row.malformed)
                parsed = parse(row)
                row_key = key(parsed)
                line = row.line
                if isinstance(parsed, Friendship) and parsed.user_id > parsed.friend_id:
                    line = -line
                self._check_duplicate(source, parsed, row_key, line)
            except Reject as bad:
                rejected.append(
                    Rejection(source.file, row.line, bad.field, shown(bad.value), bad.reason)
                )
                continue
            seen.setdefault(row_key, line)
            if isinstance(parsed, User):
                self._users.add(parsed.user_id)
            elif isinstance(parsed, Item):
                self._items.add(parsed.item_id)
            accepted.append(parsed)
        return accepted, rejected

    def _check_duplicate(self, source: TableSource, parsed: object, key: str, line: int) -> None:
        for file, seen in self._seen[source.table]:
            earlier = seen.get(key)
            if earlier is None:
                continue
            if (
                isinstance(parsed, Friendship)
                and parsed.kind == "friend"
                and (earlier < 0) != (line < 0)
                and key not in self._mirrored
            ):
                self._mirrored.add(key)
                return
            where = f"line {abs(earlier)}" if file == source.file else f"{file} line {abs(earlier)}"
            raise Reject(
                ",".join(KEY_FIELDS[source.table]), key.replace(_SEP, ","), f"duplicate of {where}"
            )


def _batches(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def rowwise_load(
    store: GraphStore,
    sources: Sequence[TableSource],
    report_dir: Path,
    *,
    now: int,
    batch_size: int = 5000,
) -> Path:
    """Load ``sources`` the pre-columnar way; returns the rejects report's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "rejects.csv"
    validator = RowwiseValidator(store, now=now)
    upserts: dict[str, Callable[[Sequence[Any]], int]] = {
        "users": store.upsert_users,
        "items": store.upsert_items,
        "friendships": store.upsert_friendships,
        "interactions": store.upsert_interactions,
    }
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "line", "field", "value", "reason"))
        for source in sorted(sources, key=lambda s: TABLES.index(s.table)):
            for batch in _batches(source.rows, batch_size):
                accepted, rejected = validator.validate(source, batch)
                if accepted:
                    upserts[source.table](accepted)
                writer.writerows((r.file, r.line, r.field, r.value, r.reason) for r in rejected)
    return path
