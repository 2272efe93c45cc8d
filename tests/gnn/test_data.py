"""The per-user split and the normalised adjacency."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from gnn.data import TrainData, normalized_adjacency, split_interactions
from graph.schema import Interaction, Item, User
from graph.snapshot import build_snapshot


def _random_interactions(
    seed: int, users: int = 60, items: int = 80, n: int = 1500
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, users, n), rng.integers(0, items, n)


def test_split_disjoint_covers_all_and_per_user() -> None:
    user, item = _random_interactions(0)
    split = split_interactions(user, item, seed=7)
    pairs = set(zip(user.tolist(), item.tolist(), strict=True))
    assert len(split.user) == len(pairs)  # duplicates merged
    parts = [split.train, split.valid, split.test]
    positions = np.concatenate(parts)
    assert len(positions) == len(set(positions.tolist())) == len(pairs)  # disjoint, complete
    assert (
        set(zip(split.user[positions].tolist(), split.item[positions].tolist(), strict=True))
        == pairs
    )
    # Per user: counts follow the 80/10/10 rule.
    per_user = Counter(split.user.tolist())
    for u, n in per_user.items():
        got = [int((split.user[p] == u).sum()) for p in parts]
        assert got[1] == max(int(0.1 * n), 1 if n >= 3 else 0)
        assert got[2] == max(int(0.1 * n), 1 if n >= 2 else 0)
        assert got[0] == n - got[1] - got[2] >= 1


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1, 0, 0)),
        (2, (1, 0, 1)),
        (3, (1, 1, 1)),
        (9, (7, 1, 1)),
        (10, (8, 1, 1)),
        (15, (13, 1, 1)),
        (20, (16, 2, 2)),
        (50, (40, 5, 5)),
    ],
)
def test_split_counts_small_and_large_users(n: int, expected: tuple[int, int, int]) -> None:
    split = split_interactions(np.zeros(n, dtype=np.int64), np.arange(n), seed=1)
    assert (len(split.train), len(split.valid), len(split.test)) == expected


def test_split_is_seeded() -> None:
    user, item = _random_interactions(1)
    a = split_interactions(user, item, seed=5)
    b = split_interactions(user, item, seed=5)
    c = split_interactions(user, item, seed=6)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.valid, b.valid)
    assert not np.array_equal(a.test, c.test)


def test_split_input_order_does_not_matter() -> None:
    user, item = _random_interactions(2)
    perm = np.random.default_rng(0).permutation(len(user))
    a = split_interactions(user, item, seed=5)
    b = split_interactions(user[perm], item[perm], seed=5)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)


@pytest.mark.parametrize("ratios", [(0.0, 0.5, 0.5), (0.8, -0.1, 0.3), (0.5, 0.5)])
def test_split_rejects_bad_ratios(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="ratios"):
        split_interactions([0, 1], [0, 1], ratios, seed=0)  # type: ignore[arg-type]


def test_train_data_from_snapshot_kinds_and_csr() -> None:
    users = [User(f"u{n}") for n in range(3)]
    items = [Item(f"i{n}") for n in range(12)]
    inter = [Interaction("u0", f"i{n}", "view") for n in range(10)]
    inter += [Interaction("u0", "i0", "purchase"), Interaction("u1", "i3", "purchase")]
    snap = build_snapshot(users, items, [], inter, source="test")
    data = TrainData.from_snapshot(snap, seed=0)
    assert (data.num_users, data.num_items) == (3, 12)
    assert data.train_user.numel() + data.valid_user.numel() + data.test_user.numel() == 11
    assert data.fingerprint == snap.fingerprint and data.user_ids == snap.user_ids
    indptr, indices = data.train_indptr, data.train_indices
    for u in range(3):
        listed = sorted(indices[indptr[u] : indptr[u + 1]].tolist())
        assert listed == sorted(data.train_item[data.train_user == u].tolist())
    purchases = TrainData.from_snapshot(snap, seed=0, kinds=["purchase"])
    assert purchases.train_user.numel() == 2  # one pair per user: train only
    with pytest.raises(ValueError, match="kinds"):
        TrainData.from_snapshot(snap, seed=0, kinds=["teleport"])
    with pytest.raises(ValueError, match="no interactions"):
        TrainData.from_snapshot(snap, seed=0, kinds=["cart"])
    # Tag adoptions (e.g. Last.fm's) leave training without kinds unchanged.
    tagged = build_snapshot(
        users, items, [], [*inter, Interaction("u2", "i5", "tag", ts=1)], source="test"
    )
    same = TrainData.from_snapshot(tagged, seed=0)
    assert torch.equal(same.train_item, data.train_item)
    assert torch.equal(same.test_item, data.test_item)
    assert TrainData.from_snapshot(tagged, seed=0, kinds=["tag"]).train_user.tolist() == [2]


def test_normalized_adjacency_matches_dense_reference() -> None:
    user = torch.tensor([0, 0, 1, 2, 2, 0])  # last pair repeats (0, 0)
    item = torch.tensor([0, 1, 1, 1, 2, 0])
    num_users, num_items = 4, 4  # user 3 and item 3 are isolated
    adj = normalized_adjacency(user, item, num_users, num_items)
    assert adj.layout == torch.sparse_csr
    # int32 indices: MKL's sparse products would convert int64 ones on every call.
    assert adj.crow_indices().dtype == adj.col_indices().dtype == torch.int32
    dense_a = torch.zeros(8, 8)
    for u, i in zip(user.tolist(), item.tolist(), strict=True):
        dense_a[u, num_users + i] = dense_a[num_users + i, u] = 1.0
    deg = dense_a.sum(1)
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    expected = dinv[:, None] * dense_a * dinv[None, :]
    got = adj.to_dense()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got, got.T)
    assert float(got[0, num_users + 1]) == pytest.approx(1 / np.sqrt(2 * 3))


def test_normalized_adjacency_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="num_items"):
        normalized_adjacency(torch.tensor([0]), torch.tensor([5]), 1, 5)
