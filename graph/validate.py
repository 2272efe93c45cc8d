"""Row validation: raw rows in, schema objects and rejections out.

Every row is checked; a bad row becomes a :class:`Rejection` (file, line, field, value, reason)
and never aborts the load. Checks: invalid UTF-8 (any field), malformed rows, missing ids, ids
longer than :data:`MAX_ID_CHARS`, unknown kinds, non-numeric/negative/non-finite prices and
values, ratings outside [0, 5], bad timestamps (unparseable, negative, more than
:data:`MAX_FUTURE_S` after ``now``), self-friendship, references to users/items that are
neither accepted earlier in this load nor already in the store, and duplicates within the load
(same key as an earlier row).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar, cast

from graph.readers import RawRow, TableSource
from graph.schema import (
    FRIENDSHIP_KINDS,
    INTERACTION_KINDS,
    UNKNOWN_TS,
    Friendship,
    FriendshipKind,
    Interaction,
    InteractionKind,
    Item,
    User,
    canonical_friendship,
)
from graph.store import GraphStore

#: Timestamps later than ``now`` plus this many seconds (one year) are rejected as absurd.
MAX_FUTURE_S: Final[int] = 366 * 86_400
#: Rejected values are shown truncated to this many characters.
MAX_SHOWN: Final[int] = 80
#: Longest id (user, item, friend) in characters: what the API accepts in a path or body, and
#: far below Neo4j's index key size even in 4-byte UTF-8.
MAX_ID_CHARS: Final[int] = 256
MAX_RATING: Final[float] = 5.0
_TRUE: Final[frozenset[str]] = frozenset({"true", "1", "yes"})
_FALSE: Final[frozenset[str]] = frozenset({"false", "0", "no"})
_INT: Final[re.Pattern[str]] = re.compile(r"[+-]?\d+")
_SURROGATE: Final[re.Pattern[str]] = re.compile("[\udc80-\udcff]")
_SEP: Final[str] = "\x1f"  # ASCII unit separator, joins the parts of composite keys
_KEY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "users": ("user_id",),
    "items": ("item_id",),
    "friendships": ("user_id", "friend_id", "kind"),
    "interactions": ("user_id", "item_id", "kind", "ts"),
}

Row = TypeVar("Row", User, Item, Friendship, Interaction)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected row: where it is, which field is wrong, and why."""

    file: str
    line: int
    field: str
    value: str
    reason: str


class _Reject(Exception):
    def __init__(self, field: str, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


def shown(value: str | None) -> str:
    """``value`` as written to the rejects report: undecodable bytes as ``\\xNN``, truncated."""
    if value is None:
        return ""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _required(row: RawRow, name: str) -> str:
    value = row.values.get(name)
    if value is None:
        raise _Reject(name, None, f"missing {name}")
    if _SEP in value:
        raise _Reject(name, value, f"{name} contains the control character U+001F")
    return value


def _id(row: RawRow, name: str) -> str:
    value = _required(row, name)
    if value != value.strip():
        raise _Reject(
            name,
            value,
            f"{name} has leading or trailing whitespace (ids are kept exactly as given, "
            "never stripped)",
        )
    if len(value) > MAX_ID_CHARS:
        raise _Reject(
            name, value, f"{name} is {len(value)} characters long, more than {MAX_ID_CHARS}"
        )
    return value


def _number(row: RawRow, name: str) -> float | None:
    text = row.values.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _Reject(name, text, f"{name} is not a number") from None
    if not math.isfinite(value):
        raise _Reject(name, text, f"{name} must be finite")
    if value < 0:
        raise _Reject(name, text, f"{name} must be >= 0")
    return value


def _flag(row: RawRow, name: str) -> bool | None:
    """A yes/no field (``None`` when empty)."""
    text = row.values.get(name)
    if text is None:
        return None
    if text.lower() not in _TRUE | _FALSE:
        raise _Reject(name, text, f"{name} must be true/false/1/0/yes/no")
    return text.lower() in _TRUE


def parse_timestamp(text: str | None, now: int) -> int:
    """Parse epoch seconds (integer or fractional, floored) or ISO-8601 (naive = UTC).

    Returns ``UNKNOWN_TS`` for ``None``.

    Raises:
        ValueError: if ``text`` is unparseable, negative or more than :data:`MAX_FUTURE_S`
            seconds after ``now``.
    """
    if text is None:
        return UNKNOWN_TS
    if _INT.fullmatch(text):
        ts = int(text)
    else:
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            ts = math.floor(seconds)
        else:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"timestamp {text!r} is neither epoch seconds nor ISO-8601"
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            ts = math.floor(parsed.timestamp())
    if ts < 0:
        raise ValueError(f"timestamp {text!r} is before 1970 (negative)")
    if ts > now + MAX_FUTURE_S:
        raise ValueError(f"timestamp {text!r} is more than a year in the future")
    return ts


class Validator:
    """Validates the tables of one load in order: users, items, friendships, interactions.

    It remembers the keys accepted so far (to find duplicates and resolve references) and asks
    ``store`` about ids not seen in this load.

    Args:
        store: The store being loaded (for references to users/items loaded earlier).
        now: Epoch seconds used for the "too far in the future" check; default: the clock.
    """

    def __init__(self, store: GraphStore, *, now: int | None = None) -> None:
        self._store = store
        self._now = int(time.time()) if now is None else now
        # Key of every accepted row -> its line (negative: a friendship given in reverse
        # order), per table and source file.
        # Composite keys are joined with ``_SEP`` into one string to keep them small.
        self._seen: dict[str, list[tuple[str, dict[str, int]]]] = {}
        self._mirrored: set[str] = set()
        self._users: set[str] = set()
        self._items: set[str] = set()

    def validate_users(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[User], list[Rejection]]:
        """Validate one batch of user rows; return (accepted rows, rejections)."""
        return self._batch(source, rows, self._user, lambda u: u.user_id)

    def validate_items(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[Item], list[Rejection]]:
        """Validate one batch of item rows; return (accepted rows, rejections)."""
        return self._batch(source, rows, self._item, lambda i: i.item_id)

    def validate_friendships(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[Friendship], list[Rejection]]:
        """Validate one batch of friendship rows; return (accepted rows, rejections).

        A mutual friendship listed again in the reverse direction is accepted (it is the same
        stored row); listed again in the same direction it is a duplicate.
        """
        self._resolve_users(rows, ("user_id", "friend_id"))
        return self._batch(source, rows, self._friendship, _friendship_key)

    def validate_interactions(
        self, source: TableSource, rows: Sequence[RawRow]
    ) -> tuple[list[Interaction], list[Rejection]]:
        """Validate one batch of interaction rows; return (accepted rows, rejections)."""
        self._resolve_users(rows, ("user_id",))
        wanted = {v for r in rows if (v := r.values.get("item_id")) and v not in self._items}
        if wanted:
            self._items |= self._store.existing_item_ids(wanted)
        return self._batch(source, rows, self._interaction, _interaction_key)

    # -- references ---------------------------------------------------------------------

    def _resolve_users(self, rows: Sequence[RawRow], columns: tuple[str, ...]) -> None:
        wanted = {
            v for r in rows for c in columns if (v := r.values.get(c)) and v not in self._users
        }
        if wanted:
            self._users |= self._store.existing_user_ids(wanted)

    def _known_user(self, row: RawRow, name: str) -> str:
        uid = _id(row, name)
        if uid not in self._users:
            raise _Reject(name, uid, f"unknown user {uid!r} (not in users nor in the store)")
        return uid

    # -- per-table parsing -----------------------------------------------------------------

    def _user(self, row: RawRow) -> User:
        uid = _id(row, "user_id")
        signup = self._timestamp(row, "signup_ts")
        return User(uid, row.values.get("region"), signup, _flag(row, "private"))

    def _item(self, row: RawRow) -> Item:
        iid = _id(row, "item_id")
        price = _number(row, "price")
        in_stock = _flag(row, "in_stock")
        return Item(iid, row.values.get("category"), price, in_stock is not False)

    def _friendship(self, row: RawRow) -> Friendship:
        kind = row.values.get("kind") or "friend"
        if kind not in FRIENDSHIP_KINDS:
            raise _Reject(
                "kind", kind, f"unknown friendship kind (expected {'|'.join(FRIENDSHIP_KINDS)})"
            )
        uid = self._known_user(row, "user_id")
        fid = self._known_user(row, "friend_id")
        if uid == fid:
            raise _Reject("friend_id", fid, "self-friendship")
        return Friendship(uid, fid, cast(FriendshipKind, kind))

    def _interaction(self, row: RawRow) -> Interaction:
        kind = _required(row, "kind")
        if kind not in INTERACTION_KINDS:
            raise _Reject(
                "kind", kind, f"unknown interaction kind (expected {'|'.join(INTERACTION_KINDS)})"
            )
        uid = self._known_user(row, "user_id")
        iid = _id(row, "item_id")
        if iid not in self._items:
            raise _Reject("item_id", iid, f"unknown item {iid!r} (not in items nor in the store)")
        value = _number(row, "value")
        if kind == "rating" and (value is None or value > MAX_RATING):
            raise _Reject("value", row.values.get("value"), "a rating needs a value in [0, 5]")
        ts = self._timestamp(row, "ts")
        return Interaction(
            uid, iid, cast(InteractionKind, kind), 1.0 if value is None else value, ts
        )

    def _timestamp(self, row: RawRow, name: str) -> int:
        text = row.values.get(name)
        try:
            return parse_timestamp(text, self._now)
        except ValueError as exc:
            raise _Reject(name, text, str(exc)) from None

    # -- the batch loop ----------------------------------------------------------------------

    def _batch(
        self,
        source: TableSource,
        rows: Sequence[RawRow],
        parse: Callable[[RawRow], Row],
        key: Callable[[Row], str],
    ) -> tuple[list[Row], list[Rejection]]:
        table = self._seen.setdefault(source.table, [])
        if not table or table[-1][0] != source.file:
            table.append((source.file, {}))
        seen = table[-1][1]
        accepted: list[Row] = []
        rejected: list[Rejection] = []
        for row in rows:
            try:
                for name, value in row.values.items():
                    if value is not None and _SURROGATE.search(value):
                        raise _Reject(name, value, f"invalid UTF-8 in {name}")
                if row.malformed is not None:
                    raise _Reject("(row)", None, row.malformed)
                parsed = parse(row)
                row_key = key(parsed)
                line = row.line
                if isinstance(parsed, Friendship) and parsed.user_id > parsed.friend_id:
                    line = -line  # a mutual friendship given in reverse order
                self._check_duplicate(source, parsed, row_key, line)
            except _Reject as bad:
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
        """Raise a rejection if ``key`` was accepted before (mirrored friendships excepted)."""
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
            raise _Reject(
                ",".join(_KEY_FIELDS[source.table]),
                key.replace(_SEP, ","),
                f"duplicate of {where}",
            )


def _friendship_key(f: Friendship) -> str:
    c = canonical_friendship(f)
    return f"{c.user_id}{_SEP}{c.friend_id}{_SEP}{c.kind}"


def _interaction_key(r: Interaction) -> str:
    return f"{r.user_id}{_SEP}{r.item_id}{_SEP}{r.kind}{_SEP}{r.ts}"
