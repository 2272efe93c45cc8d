"""The tuple-sorting snapshot builder that ``graph.snapshot.build_snapshot`` replaced.

Kept only as the reference of tests/graph/test_export.py, which checks that the numpy
builder gives the same arrays, ids, vocabularies and fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from graph.schema import INTERACTION_KINDS, UNKNOWN_TS, Friendship, Interaction, Item, User
from graph.snapshot import FOLLOW_CODE, FRIEND_CODE, Snapshot, with_meta


def reference_snapshot(
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
    return with_meta(snapshot, source)
