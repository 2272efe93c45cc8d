"""Versioned graph snapshots: contiguous id maps plus edge and attribute arrays.

A snapshot is a directory::

    meta.json        format_version, created_at, fingerprint, counts, source, vocabularies
    user_ids.json    index -> user id (the reverse map is built on load)
    item_ids.json    index -> item id
    arrays.npz       every numeric array listed in ``_ARRAY_FIELDS``

Social edges are directed "attention" edges ``src -> dst``: ``src`` sees ``dst``'s activity.
A mutual friendship gives both directions (kind ``friend``); a follow row
``(user_id follows friend_id)`` gives ``user_id -> friend_id`` (kind ``follow``). Influence
therefore flows ``dst -> src``.

Ids are sorted (as strings) and edges sorted, so the same graph always yields the same arrays
and the same ``fingerprint`` whichever store it was exported from. Reading a snapshot never
needs the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from graph.schema import (
    FRIENDSHIP_KINDS,
    INTERACTION_KINDS,
    UNKNOWN_TS,
    Friendship,
    Interaction,
    Item,
    User,
)

FORMAT_VERSION: Final[int] = 1
_ARRAY_FIELDS: Final[tuple[str, ...]] = (
    "inter_user",
    "inter_item",
    "inter_kind",
    "inter_value",
    "inter_ts",
    "social_src",
    "social_dst",
    "social_kind",
    "item_category",
    "item_price",
    "item_in_stock",
    "user_region",
    "user_signup_ts",
)
#: Arrays outside the fingerprint (not model inputs): a snapshot written before they existed
#: reads them as all False.
_SETTING_FIELDS: Final[tuple[str, ...]] = ("user_private",)
FRIEND_CODE: Final[int] = FRIENDSHIP_KINDS.index("friend")
FOLLOW_CODE: Final[int] = FRIENDSHIP_KINDS.index("follow")


class SnapshotError(ValueError):
    """A snapshot directory is missing, incomplete or of an unsupported format version."""


@dataclass(eq=False)
class Snapshot:
    """An exported graph held in memory. Kind columns are codes into
    ``graph.schema.INTERACTION_KINDS`` / ``FRIENDSHIP_KINDS``; category/region columns are
    codes into ``categories`` / ``regions`` with -1 for unknown; unknown prices are NaN.
    ``user_private`` marks users with the privacy setting on (docs/privacy.md); it is a
    setting, not content, so the fingerprint leaves it out."""

    user_ids: list[str]
    item_ids: list[str]
    inter_user: NDArray[np.int64]
    inter_item: NDArray[np.int64]
    inter_kind: NDArray[np.int8]
    inter_value: NDArray[np.float32]
    inter_ts: NDArray[np.int64]
    social_src: NDArray[np.int64]
    social_dst: NDArray[np.int64]
    social_kind: NDArray[np.int8]
    item_category: NDArray[np.int32]
    item_price: NDArray[np.float32]
    item_in_stock: NDArray[np.bool_]
    user_region: NDArray[np.int32]
    user_signup_ts: NDArray[np.int64]
    user_private: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    categories: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.user_private) != len(self.user_ids):  # not given: every user public
            self.user_private = np.zeros(len(self.user_ids), dtype=np.bool_)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @cached_property
    def user_index(self) -> dict[str, int]:
        """user id -> contiguous index."""
        return {uid: i for i, uid in enumerate(self.user_ids)}

    @cached_property
    def item_index(self) -> dict[str, int]:
        """item id -> contiguous index."""
        return {iid: i for i, iid in enumerate(self.item_ids)}

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])


#: A page of stored rows as tuples, in the SQLite store's column order: users (id, region,
#: signup_ts, private), items (id, category, price, in_stock), friendships (user_id,
#: friend_id, kind; canonical), interactions (user_id, item_id, kind, ts, value).
RowPage = Sequence[tuple[Any, ...]]


def build_snapshot(
    users: Iterable[User],
    items: Iterable[Item],
    friendships: Iterable[Friendship],
    interactions: Iterable[Interaction],
    *,
    source: str,
) -> Snapshot:
    """Build a snapshot from stored rows (any order; friendships in canonical form)."""
    return build_snapshot_from_pages(
        [[(u.user_id, u.region, u.signup_ts, u.private) for u in users]],
        [[(i.item_id, i.category, i.price, i.in_stock) for i in items]],
        [[(f.user_id, f.friend_id, f.kind) for f in friendships]],
        [[(r.user_id, r.item_id, r.kind, r.ts, r.value) for r in interactions]],
        source=source,
    )


def _codes(values: Iterable[Any], code: dict[Any, int], count: int) -> NDArray[np.int64]:
    """``code[v]`` for each value, as an array (KeyError for a value without a code)."""
    return np.fromiter(map(code.__getitem__, values), dtype=np.int64, count=count)


def _edge_arrays(
    pages: Iterable[RowPage], first: dict[str, int], second: dict[str, int], kinds: dict[str, int]
) -> tuple[list[NDArray[Any]], ...]:
    """Per page: the two ends' indices, the kind codes and (interactions) ts and value."""
    parts: tuple[list[NDArray[Any]], ...] = ([], [], [], [], [])
    for page in pages:
        if not page:
            continue
        n = len(page)
        columns = list(zip(*page, strict=True))
        parts[0].append(_codes(columns[0], first, n))
        parts[1].append(_codes(columns[1], second, n))
        parts[2].append(_codes(columns[2], kinds, n))
        if len(columns) > 3:
            parts[3].append(np.array(columns[3], dtype=np.int64))
            parts[4].append(np.array(columns[4], dtype=np.float64))
    return parts


def _joined(parts: list[NDArray[Any]], dtype: type) -> NDArray[Any]:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _vocabulary(values: Iterable[str | None]) -> tuple[list[str], NDArray[np.int32]]:
    """Sorted distinct values and each value's code in them (-1 for none or empty)."""
    listed = list(values)
    vocabulary = sorted({v for v in listed if v is not None})
    code = {v: n for n, v in enumerate(vocabulary)}
    codes = [code[v] if v else -1 for v in listed]
    return vocabulary, np.array(codes, dtype=np.int32)


def _social_edges(
    a: NDArray[np.int64], b: NDArray[np.int64], kind: NDArray[np.int64], num_users: int
) -> NDArray[np.int64]:
    """Distinct directed edges ``(src, dst, kind)`` sorted: a friendship both ways, a follow
    as given."""
    mutual = kind == FRIEND_CODE
    src = np.concatenate((a, b[mutual]))
    dst = np.concatenate((b, a[mutual]))
    codes = np.concatenate((kind, kind[mutual]))
    if 2 * num_users * num_users >= 2**63:  # too many users to pack an edge in one int64
        return np.unique(np.stack((src, dst, codes), axis=1), axis=0).reshape(-1, 3)
    packed = np.sort((src * num_users + dst) * 2 + codes)
    packed = packed[np.concatenate(([True], packed[1:] != packed[:-1]))] if len(packed) else packed
    return np.stack((packed // 2 // num_users, packed // 2 % num_users, packed % 2), axis=1)


def build_snapshot_from_pages(
    users: Iterable[RowPage],
    items: Iterable[RowPage],
    friendships: Iterable[RowPage],
    interactions: Iterable[RowPage],
    *,
    source: str,
) -> Snapshot:
    """Build a snapshot from pages of stored rows as tuples (:data:`RowPage`; any order):
    ids sorted, indices and codes mapped and edges sorted with numpy."""
    user_rows = sorted((row for page in users for row in page), key=itemgetter(0))
    item_rows = sorted((row for page in items for row in page), key=itemgetter(0))
    uidx = {row[0]: n for n, row in enumerate(user_rows)}
    iidx = {row[0]: n for n, row in enumerate(item_rows)}
    inter_kind_code = {k: n for n, k in enumerate(INTERACTION_KINDS)}
    iu, ii, ik, its, ival = _edge_arrays(interactions, uidx, iidx, inter_kind_code)
    inter = (
        _joined(iu, np.int64),
        _joined(ii, np.int64),
        _joined(ik, np.int64),
        _joined(its, np.int64),
        _joined(ival, np.float64),
    )
    friend_kind_code = {"friend": FRIEND_CODE, "follow": FOLLOW_CODE}
    fa, fb, fk, _, _ = _edge_arrays(friendships, uidx, uidx, friend_kind_code)
    friends = (_joined(fa, np.int64), _joined(fb, np.int64), _joined(fk, np.int64))
    return _assemble(user_rows, item_rows, inter, friends, source)


#: Interactions coded by :func:`build_snapshot_from_coded`'s contract.
CODED_INTERACTION: Final = np.dtype(
    [("user", "i8"), ("item", "i8"), ("kind", "i8"), ("ts", "i8"), ("value", "f8")]
)
#: Friendships (canonical) coded by :func:`build_snapshot_from_coded`'s contract.
CODED_FRIENDSHIP: Final = np.dtype([("user", "i8"), ("friend", "i8"), ("kind", "i8")])
#: Per coded edge table: the kinds whose index is a kind's code.
CODED_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "friendships": FRIENDSHIP_KINDS,
    "interactions": INTERACTION_KINDS,
}


def build_snapshot_from_coded(
    users: Iterable[RowPage],
    items: Iterable[RowPage],
    friendships: Iterable[NDArray[np.void]],
    interactions: Iterable[NDArray[np.void]],
    *,
    source: str,
) -> Snapshot:
    """Build a snapshot from user and item pages in id order and edges already coded (no
    Python object per edge): arrays of :data:`CODED_FRIENDSHIP` / :data:`CODED_INTERACTION`
    whose users and items are their positions in that id order and kinds their index in
    ``FRIENDSHIP_KINDS`` / ``INTERACTION_KINDS`` (-1: not among them).

    Raises:
        SnapshotError: if the ids are not in sorted order or an edge has a -1 (a user, item
            or kind the other tables do not have).
    """
    user_rows = [row for page in users for row in page]
    item_rows = [row for page in items for row in page]
    for name, rows in (("users", user_rows), ("items", item_rows)):
        ids = [row[0] for row in rows]
        if ids != sorted(ids):
            raise SnapshotError(f"{name} did not come in id order")
    inter = _coded(interactions, CODED_INTERACTION, "interactions")
    friends = _coded(friendships, CODED_FRIENDSHIP, "friendships")
    return _assemble(
        user_rows,
        item_rows,
        (inter["user"], inter["item"], inter["kind"], inter["ts"], inter["value"]),
        (friends["user"], friends["friend"], friends["kind"]),
        source,
    )


def _coded(pages: Iterable[NDArray[np.void]], dtype: np.dtype[Any], table: str) -> NDArray[np.void]:
    """The pages of one coded edge table joined (checked for -1 codes)."""
    joined = np.concatenate([np.zeros(0, dtype), *pages])
    for name in dtype.names or ():
        if dtype[name].kind == "i" and name != "ts" and (joined[name] < 0).any():
            what = "a kind" if name == "kind" else "an id"
            raise SnapshotError(f"{table} has rows with {what} not in the store's tables")
    return joined


def _interaction_order(
    inter: tuple[NDArray[Any], ...], num_users: int, num_items: int
) -> NDArray[np.intp]:
    """The order of interactions by (user, item, kind, ts, value), stable: one stable sort of
    (user, item, kind) packed in an int64 when that leaves (ts, value) in order within each
    group (as in a store's key order), else a ``lexsort`` of the four keys."""
    user, item, kind, ts, value = inter
    pair = user * max(num_items, 1) + item  # (user, item) order, one key
    kinds = len(INTERACTION_KINDS)
    if max(num_users, 1) * max(num_items, 1) * kinds < 2**62:
        major = pair * kinds + kind
        order = np.argsort(major, kind="stable")
        d_major, d_ts = np.diff(major[order]), np.diff(ts[order])
        d_value = np.diff(value[order])
        if ((d_major > 0) | ((d_major == 0) & ((d_ts > 0) | ((d_ts == 0) & (d_value >= 0))))).all():
            return order
    return np.lexsort((value, ts, kind, pair))


def _assemble(
    user_rows: Sequence[tuple[Any, ...]],
    item_rows: Sequence[tuple[Any, ...]],
    inter: tuple[NDArray[Any], ...],
    friends: tuple[NDArray[Any], ...],
    source: str,
) -> Snapshot:
    """The snapshot of users and items in id order and their coded edges: interactions
    ordered with one ``lexsort``, social edges de-duplicated."""
    user_ids = [row[0] for row in user_rows]
    item_ids = [row[0] for row in item_rows]
    regions, user_region = _vocabulary(row[1] for row in user_rows)
    categories, item_category = _vocabulary(row[1] for row in item_rows)
    inter_user, inter_item, inter_kind, inter_ts, inter_value = inter
    order = _interaction_order(inter, len(user_ids), len(item_ids))
    social_a, social_b, social_kind = friends
    social = _social_edges(social_a, social_b, social_kind, len(user_ids))
    snapshot = Snapshot(
        user_ids=user_ids,
        item_ids=item_ids,
        inter_user=inter_user[order],
        inter_item=inter_item[order],
        inter_kind=inter_kind[order].astype(np.int8),
        inter_value=inter_value[order].astype(np.float32),
        inter_ts=inter_ts[order],
        social_src=social[:, 0].copy(),
        social_dst=social[:, 1].copy(),
        social_kind=social[:, 2].astype(np.int8),
        item_category=item_category,
        item_price=np.array(
            [np.nan if row[2] is None else row[2] for row in item_rows], dtype=np.float32
        ),
        item_in_stock=np.array([bool(row[3]) for row in item_rows], dtype=np.bool_),
        user_region=user_region,
        user_signup_ts=np.array(
            [UNKNOWN_TS if row[2] is None else row[2] for row in user_rows], dtype=np.int64
        ),
        user_private=np.array([bool(row[3]) for row in user_rows], dtype=np.bool_),
        categories=categories,
        regions=regions,
    )
    return with_meta(snapshot, source)


def with_meta(snapshot: Snapshot, source: str) -> Snapshot:
    """``snapshot`` with its ``meta``: format version, creation time, fingerprint, ``source``
    and counts."""
    snapshot.meta = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": content_fingerprint(snapshot),
        "source": source,
        "counts": {
            "users": snapshot.num_users,
            "items": snapshot.num_items,
            "interactions": len(snapshot.inter_user),
            "social_edges": len(snapshot.social_src),
        },
    }
    return snapshot


def content_fingerprint(snapshot: Snapshot) -> str:
    """SHA-256 over ids, vocabularies and arrays: equal content gives equal fingerprints."""
    digest = hashlib.sha256()
    for part in (snapshot.user_ids, snapshot.item_ids, snapshot.categories, snapshot.regions):
        digest.update(json.dumps(part, ensure_ascii=False).encode("utf-8"))
    for name in _ARRAY_FIELDS:
        array = np.ascontiguousarray(getattr(snapshot, name))
        digest.update(name.encode())
        digest.update(str(array.dtype).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_snapshot(snapshot: Snapshot, directory: str | os.PathLike[str]) -> Path:
    """Write ``snapshot`` to ``directory`` atomically (staged in a sibling temp dir, then
    renamed); an existing snapshot there is replaced. Returns the directory path."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        meta = dict(snapshot.meta, categories=snapshot.categories, regions=snapshot.regions)
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        for name in ("user_ids", "item_ids"):
            ids = getattr(snapshot, name)
            (staging / f"{name}.json").write_text(json.dumps(ids, ensure_ascii=False))
        names = _ARRAY_FIELDS + _SETTING_FIELDS
        np.savez(staging / "arrays.npz", **{n: getattr(snapshot, n) for n in names})
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_snapshot(directory: str | os.PathLike[str]) -> Snapshot:
    """Load a snapshot written by :func:`write_snapshot`.

    Raises:
        SnapshotError: if the directory is missing a file or has another format version.
    """
    path = Path(directory)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise SnapshotError(f"{path} is not a snapshot: {meta_path.name} is missing")
    meta = json.loads(meta_path.read_text())
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise SnapshotError(
            f"{path}: snapshot format_version {version!r} is not supported "
            f"(this socialrec reads version {FORMAT_VERSION}); re-export it"
        )
    try:
        user_ids = json.loads((path / "user_ids.json").read_text())
        item_ids = json.loads((path / "item_ids.json").read_text())
        with np.load(path / "arrays.npz") as npz:
            arrays = {name: npz[name] for name in _ARRAY_FIELDS}
            arrays |= {name: npz[name] for name in _SETTING_FIELDS if name in npz.files}
    except (FileNotFoundError, KeyError) as exc:
        raise SnapshotError(f"{path}: incomplete snapshot ({exc})") from exc
    categories = meta.pop("categories", [])
    regions = meta.pop("regions", [])
    return Snapshot(
        user_ids=user_ids,
        item_ids=item_ids,
        categories=categories,
        regions=regions,
        meta=meta,
        **arrays,
    )
