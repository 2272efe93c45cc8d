"""Exact row-by-row checks: one raw row in, a schema object or a :class:`Reject` out.

The columnar validator (:mod:`graph.validate`) clears plain rows with vectorised checks and
sends every other row here, so these functions define what each check accepts and the exact
reason of each rejection. Checks: invalid UTF-8 (any field), malformed rows, missing ids, ids
longer than :data:`MAX_ID_CHARS`, unknown kinds, non-numeric/negative/non-finite prices and
values, ratings outside [0, 5], bad timestamps (unparseable, negative, more than
:data:`MAX_FUTURE_S` after ``now``), self-friendship, references to users/items that are
neither accepted earlier in this load nor already in the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, cast

from graph.readers import RawRow
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
)

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
SURROGATE: Final[re.Pattern[str]] = re.compile("[\udc80-\udcff]")
#: ASCII unit separator: never part of an id (it joined the parts of composite keys).
_SEP: Final[str] = "\x1f"
KEY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "users": ("user_id",),
    "items": ("item_id",),
    "friendships": ("user_id", "friend_id", "kind"),
    "interactions": ("user_id", "item_id", "kind", "ts"),
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected row: where it is, which field is wrong, and why."""

    file: str
    line: int
    field: str
    value: str
    reason: str


class Reject(Exception):
    """A row's rejection: the field, its raw value and the reason."""

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
        raise Reject(name, None, f"missing {name}")
    if _SEP in value:
        raise Reject(name, value, f"{name} contains the control character U+001F")
    return value


def _id(row: RawRow, name: str) -> str:
    value = _required(row, name)
    if value != value.strip():
        raise Reject(
            name,
            value,
            f"{name} has leading or trailing whitespace (ids are kept exactly as given, "
            "never stripped)",
        )
    if len(value) > MAX_ID_CHARS:
        raise Reject(
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
        raise Reject(name, text, f"{name} is not a number") from None
    if not math.isfinite(value):
        raise Reject(name, text, f"{name} must be finite")
    if value < 0:
        raise Reject(name, text, f"{name} must be >= 0")
    return value


def _flag(row: RawRow, name: str) -> bool | None:
    """A yes/no field (``None`` when empty)."""
    text = row.values.get(name)
    if text is None:
        return None
    if text.lower() not in _TRUE | _FALSE:
        raise Reject(name, text, f"{name} must be true/false/1/0/yes/no")
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


class RowParser:
    """Parses one row of a table exactly, or raises :class:`Reject`.

    Args:
        now: Epoch seconds for the "too far in the future" check.
        users: Ids of the users known so far (accepted in this load or found in the store).
        items: Ids of the items known so far.
    """

    def __init__(self, now: int, users: Container[str], items: Container[str]) -> None:
        self.now, self.users, self.items = now, users, items

    def parse(self, table: str, row: RawRow) -> User | Item | Friendship | Interaction:
        """Check a row of ``table`` (encoding, shape, then its fields) and return its parsed
        form (a friendship as given, not canonical)."""
        for name, value in row.values.items():
            if value is not None and SURROGATE.search(value):
                raise Reject(name, value, f"invalid UTF-8 in {name}")
        if row.malformed is not None:
            raise Reject("(row)", None, row.malformed)
        if table == "users":
            return self.user(row)
        if table == "items":
            return self.item(row)
        if table == "friendships":
            return self.friendship(row)
        return self.interaction(row)

    def _known_user(self, row: RawRow, name: str) -> str:
        uid = _id(row, name)
        if uid not in self.users:
            raise Reject(name, uid, f"unknown user {uid!r} (not in users nor in the store)")
        return uid

    def user(self, row: RawRow) -> User:
        """A user row's fields."""
        uid = _id(row, "user_id")
        signup = self._timestamp(row, "signup_ts")
        return User(uid, row.values.get("region"), signup, _flag(row, "private"))

    def item(self, row: RawRow) -> Item:
        """An item row's fields."""
        iid = _id(row, "item_id")
        price = _number(row, "price")
        in_stock = _flag(row, "in_stock")
        return Item(iid, row.values.get("category"), price, in_stock is not False)

    def friendship(self, row: RawRow) -> Friendship:
        """A friendship row's fields (as given: not canonical)."""
        kind = row.values.get("kind") or "friend"
        if kind not in FRIENDSHIP_KINDS:
            raise Reject(
                "kind", kind, f"unknown friendship kind (expected {'|'.join(FRIENDSHIP_KINDS)})"
            )
        uid = self._known_user(row, "user_id")
        fid = self._known_user(row, "friend_id")
        if uid == fid:
            raise Reject("friend_id", fid, "self-friendship")
        return Friendship(uid, fid, cast(FriendshipKind, kind))

    def interaction(self, row: RawRow) -> Interaction:
        """An interaction row's fields."""
        kind = _required(row, "kind")
        if kind not in INTERACTION_KINDS:
            raise Reject(
                "kind", kind, f"unknown interaction kind (expected {'|'.join(INTERACTION_KINDS)})"
            )
        uid = self._known_user(row, "user_id")
        iid = _id(row, "item_id")
        if iid not in self.items:
            raise Reject("item_id", iid, f"unknown item {iid!r} (not in items nor in the store)")
        value = _number(row, "value")
        if kind == "rating" and (value is None or value > MAX_RATING):
            raise Reject("value", row.values.get("value"), "a rating needs a value in [0, 5]")
        ts = self._timestamp(row, "ts")
        return Interaction(
            uid, iid, cast(InteractionKind, kind), 1.0 if value is None else value, ts
        )

    def _timestamp(self, row: RawRow, name: str) -> int:
        text = row.values.get(name)
        try:
            return parse_timestamp(text, self.now)
        except ValueError as exc:
            raise Reject(name, text, str(exc)) from None
