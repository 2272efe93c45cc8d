"""The data model shared by every store: users, items, friendships and interactions.

Ids come from the source system as strings or ints and are always kept as strings here;
contiguous integer indices exist only in exported snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

InteractionKind = Literal["view", "click", "cart", "purchase", "rating", "tag"]
FriendshipKind = Literal["friend", "follow"]

#: ``tag``: a user's first tag of an item (an adoption with a date, e.g. Last.fm tag
#: assignments); new kinds go last so the codes of snapshots already written stay valid.
INTERACTION_KINDS: Final[tuple[str, ...]] = (
    "view",
    "click",
    "cart",
    "purchase",
    "rating",
    "tag",
)
#: What training uses when no kinds are given: every kind but ``tag`` (as before tags existed).
TRAINING_KINDS: Final[tuple[str, ...]] = ("view", "click", "cart", "purchase", "rating")
FRIENDSHIP_KINDS: Final[tuple[str, ...]] = ("friend", "follow")

#: Timestamps are integer seconds since the Unix epoch (UTC). A source without times
#: (e.g. LastFM listen counts) stores this value, which no valid timestamp can take.
UNKNOWN_TS: Final[int] = -1


@dataclass(frozen=True, slots=True)
class User:
    """A shopper or influencer account. ``private``: the user's activity is never shown to
    others as a reason and their relations never weigh in anyone's feed (``None``: not set,
    which serves as public; see docs/privacy.md)."""

    user_id: str
    region: str | None = None
    signup_ts: int = UNKNOWN_TS
    private: bool | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A product in the catalogue; ``price`` is ``None`` when unknown."""

    item_id: str
    category: str | None = None
    price: float | None = None
    in_stock: bool = True


@dataclass(frozen=True, slots=True)
class Friendship:
    """A social tie: ``friend`` is mutual, ``follow`` means ``user_id`` follows ``friend_id``.

    Mutual friendships are stored once, canonically with ``user_id < friend_id``
    (see :func:`canonical_friendship`), so (a, b) and (b, a) are the same row.
    """

    user_id: str
    friend_id: str
    kind: FriendshipKind = "friend"


@dataclass(frozen=True, slots=True)
class Interaction:
    """One user-item event. Its identity is (user_id, item_id, kind, ts): loading the same
    event twice keeps one copy, while repeat purchases at different times are distinct."""

    user_id: str
    item_id: str
    kind: InteractionKind = "view"
    value: float = 1.0
    ts: int = UNKNOWN_TS


def canonical_friendship(row: Friendship) -> Friendship:
    """Return the stored form of ``row``: mutual friendships ordered by id, follows as given."""
    if row.kind == "friend" and row.friend_id < row.user_id:
        return Friendship(row.friend_id, row.user_id, "friend")
    return row
