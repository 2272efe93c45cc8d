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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
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


def build_snapshot(
    users: Iterable[User],
    items: Iterable[Item],
    friendships: Iterable[Friendship],
    interactions: Iterable[Interaction],
    *,
    source: str,
) -> Snapshot:
    """Build a snapshot from stored rows (any order; friendships in canonical form)."""
    user_rows = sorted(users, key=lambda u: u.user_id)
    item_rows = sorted(items, key=lambda i: i.item_id)
    user_ids = [u.user_id for u in user_rows]
    item_ids = [i.item_id for i in item_rows]
    uidx = {uid: n for n, uid in enumerate(user_ids)}
    iidx = {iid: n for n, iid in enumerate(item_ids)}

    regions = sorted({u.region for u in user_rows if u.region is not None})
    region_code = {r: n for n, r in enumerate(regions)}
    categories = sorted({i.category for i in item_rows if i.category is not None})
    category_code = {c: n for n, c in enumerate(categories)}

    inter = sorted(
        (
            (uidx[r.user_id], iidx[r.item_id], INTERACTION_KINDS.index(r.kind), r.ts, r.value)
            for r in interactions
        ),
    )
    inter_arr = np.array([row[:4] for row in inter], dtype=np.int64).reshape(-1, 4)

    edges: set[tuple[int, int, int]] = set()
    for f in friendships:
        a, b = uidx[f.user_id], uidx[f.friend_id]
        if f.kind == "friend":
            edges.add((a, b, FRIEND_CODE))
            edges.add((b, a, FRIEND_CODE))
        else:
            edges.add((a, b, FOLLOW_CODE))
    social = np.array(sorted(edges), dtype=np.int64).reshape(-1, 3)

    snapshot = Snapshot(
        user_ids=user_ids,
        item_ids=item_ids,
        inter_user=inter_arr[:, 0].copy(),
        inter_item=inter_arr[:, 1].copy(),
        inter_kind=inter_arr[:, 2].astype(np.int8),
        inter_value=np.array([row[4] for row in inter], dtype=np.float32),
        inter_ts=inter_arr[:, 3].copy(),
        social_src=social[:, 0].copy(),
        social_dst=social[:, 1].copy(),
        social_kind=social[:, 2].astype(np.int8),
        item_category=np.array(
            [category_code.get(i.category, -1) if i.category else -1 for i in item_rows],
            dtype=np.int32,
        ),
        item_price=np.array(
            [np.nan if i.price is None else i.price for i in item_rows], dtype=np.float32
        ),
        item_in_stock=np.array([i.in_stock for i in item_rows], dtype=np.bool_),
        user_region=np.array(
            [region_code.get(u.region, -1) if u.region else -1 for u in user_rows],
            dtype=np.int32,
        ),
        user_signup_ts=np.array(
            [u.signup_ts if u.signup_ts is not None else UNKNOWN_TS for u in user_rows],
            dtype=np.int64,
        ),
        user_private=np.array([bool(u.private) for u in user_rows], dtype=np.bool_),
        categories=categories,
        regions=regions,
    )
    snapshot.meta = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": content_fingerprint(snapshot),
        "source": source,
        "counts": {
            "users": len(user_ids),
            "items": len(item_ids),
            "interactions": len(inter),
            "social_edges": len(social),
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
