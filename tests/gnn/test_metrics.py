"""Ranking metrics against values computed by hand."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from gnn.data import TrainData
from gnn.evaluate import evaluate, rank
from gnn.metrics import (
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

LOG = math.log2
# Rows: ranked relevance of 5 positions; counts: all relevant items of the user.
HITS = torch.tensor(
    [
        [1, 0, 1, 0, 0],  # A: 3 relevant, hits at ranks 1 and 3
        [0, 0, 0, 1, 0],  # B: 1 relevant, hit at rank 4
        [0, 1, 1, 1, 1],  # C: 10 relevant (more than K)
        [0, 0, 0, 0, 0],  # D: 2 relevant, no hit
    ],
    dtype=torch.bool,
)
COUNTS = torch.tensor([3, 1, 10, 2])
IDCG3 = 1 + 1 / LOG(3) + 1 / LOG(4)
IDCG5 = IDCG3 + 1 / LOG(5) + 1 / LOG(6)

# (metric function, k, expected per user A, B, C, D)
CASES = [
    (recall_at_k, 1, [1 / 3, 0, 0, 0]),
    (recall_at_k, 3, [2 / 3, 0, 2 / 10, 0]),
    (recall_at_k, 5, [2 / 3, 1, 4 / 10, 0]),
    (precision_at_k, 1, [1, 0, 0, 0]),
    (precision_at_k, 3, [2 / 3, 0, 2 / 3, 0]),
    (precision_at_k, 5, [2 / 5, 1 / 5, 4 / 5, 0]),
    (hit_at_k, 1, [1, 0, 0, 0]),
    (hit_at_k, 3, [1, 0, 1, 0]),
    (hit_at_k, 5, [1, 1, 1, 0]),
    (mrr_at_k, 1, [1, 0, 0, 0]),
    (mrr_at_k, 3, [1, 0, 1 / 2, 0]),
    (mrr_at_k, 5, [1, 1 / 4, 1 / 2, 0]),
    (ndcg_at_k, 1, [1, 0, 0, 0]),
    # A: DCG 1 + 1/log2(4), ideal over min(3, 3) = 3 ranks; C: ideal over 3 of its 10.
    (ndcg_at_k, 3, [(1 + 1 / LOG(4)) / IDCG3, 0, (1 / LOG(3) + 1 / LOG(4)) / IDCG3, 0]),
    (
        ndcg_at_k,
        5,
        [
            (1 + 1 / LOG(4)) / IDCG3,  # ideal still over min(5, 3) = 3 ranks
            (1 / LOG(5)) / 1.0,  # one relevant item: ideal DCG is 1
            (1 / LOG(3) + 1 / LOG(4) + 1 / LOG(5) + 1 / LOG(6)) / IDCG5,
            0,
        ],
    ),
]


@pytest.mark.parametrize(("fn", "k", "expected"), CASES)
def test_metric_matches_hand_computed(
    fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor], k: int, expected: list[float]
) -> None:
    got = fn(HITS, COUNTS, k)
    assert got.tolist() == pytest.approx(expected, abs=1e-12)


def test_hand_values_spot_check() -> None:
    # Literal numbers, independent of the expressions above.
    assert float(ndcg_at_k(HITS, COUNTS, 3)[0]) == pytest.approx(0.703918, abs=1e-6)
    assert float(ndcg_at_k(HITS, COUNTS, 5)[1]) == pytest.approx(0.430677, abs=1e-6)
    assert float(ndcg_at_k(HITS, COUNTS, 5)[2]) == pytest.approx(0.660840, abs=1e-6)


def test_ranking_metrics_names() -> None:
    out = ranking_metrics(HITS, COUNTS, (1, 5))
    assert set(out) == {
        f"{m}@{k}" for m in ("recall", "ndcg", "precision", "hit", "mrr") for k in (1, 5)
    }


@pytest.mark.parametrize(
    ("hits", "counts", "k"),
    [
        (HITS, COUNTS, 0),
        (HITS, COUNTS, 6),
        (HITS[0], COUNTS, 1),
        (HITS, COUNTS[:2], 1),
        (HITS, torch.tensor([3, 0, 1, 1]), 1),
    ],
)
def test_metric_rejects_bad_input(hits: torch.Tensor, counts: torch.Tensor, k: int) -> None:
    with pytest.raises(ValueError):
        recall_at_k(hits, counts, k)


def _tiny_data() -> TrainData:
    """2 users, 6 items; built directly so the split is known."""
    t = torch.tensor
    from gnn.data import csr_from_pairs

    train_user, train_item = t([0, 0, 1]), t([0, 1, 5])
    indptr, indices = csr_from_pairs(train_user, train_item, 2)
    return TrainData(
        num_users=2,
        num_items=6,
        train_user=train_user,
        train_item=train_item,
        valid_user=t([0, 1]),
        valid_item=t([2, 4]),
        test_user=t([0, 0]),
        test_item=t([3, 4]),
        train_indptr=indptr,
        train_indices=indices,
    )


# Dim 1: user 0 scores items by their value, user 1 by the negated value.
USER_EMB = torch.tensor([[1.0], [-1.0]])
ITEM_EMB = torch.tensor([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0]])


def test_evaluate_masks_and_matches_hand_values() -> None:
    data = _tiny_data()
    # Valid: user 0 (train 0, 1 masked) ranks 2, 3, 4, 5 -> valid item 2 at rank 1.
    # user 1 (train 5 masked) ranks 4, 3, 2, 1, 0 -> valid item 4 at rank 1.
    valid = evaluate(USER_EMB, ITEM_EMB, data, "valid", ks=(1, 2))
    assert valid["recall@1"] == pytest.approx(1.0)
    assert valid["mrr@2"] == pytest.approx(1.0)
    # Test: only user 0; train 0, 1 and valid 2 masked -> ranks 3, 4, 5: both test items in
    # the top 2.
    test = evaluate(USER_EMB, ITEM_EMB, data, "test", ks=(1, 2))
    assert test["recall@1"] == pytest.approx(0.5)
    assert test["recall@2"] == pytest.approx(1.0)
    assert test["precision@2"] == pytest.approx(1.0)
    assert test["ndcg@2"] == pytest.approx(1.0)
    # Without masking valid item 2 would take rank 1: check the list itself.
    users, top = rank(USER_EMB, ITEM_EMB, data, "test", k=3)
    assert users.tolist() == [0]
    assert top.tolist() == [[3, 4, 5]]
    users, top = rank(USER_EMB, ITEM_EMB, data, "valid", k=4)
    assert top.tolist() == [[2, 3, 4, 5], [4, 3, 2, 1]]


def test_evaluate_never_ranks_train_items_random() -> None:
    gen = torch.Generator().manual_seed(0)
    user = torch.randint(0, 30, (400,), generator=gen)
    item = torch.randint(0, 50, (400,), generator=gen)
    data = TrainData.from_interactions(user.numpy(), item.numpy(), 30, 50, seed=3)
    u_emb = torch.randn(30, 8, generator=gen)
    i_emb = torch.randn(50, 8, generator=gen)
    for split in ("valid", "test"):
        users, top = rank(u_emb, i_emb, data, split, k=10)
        masked = {(int(u), int(i)) for u, i in zip(*data.pairs("train"), strict=True)}
        if split == "test":
            masked |= {(int(u), int(i)) for u, i in zip(*data.pairs("valid"), strict=True)}
        for u, items in zip(users.tolist(), top.tolist(), strict=True):
            assert not any((u, i) in masked for i in items)


def test_evaluate_rejects_bad_split() -> None:
    with pytest.raises(ValueError, match="split"):
        evaluate(USER_EMB, ITEM_EMB, _tiny_data(), "train")


def test_evaluate_cutoff_beyond_catalogue() -> None:
    # 6 items: K = 10 ranks all of them; precision still divides by K.
    test = evaluate(USER_EMB, ITEM_EMB, _tiny_data(), "test", ks=(2, 10))
    assert test["recall@10"] == pytest.approx(1.0)
    assert test["precision@10"] == pytest.approx(2 / 10)
