"""Evaluation over more users than one batch: each user's seen items are masked in their own
row, whichever batch the user falls in, checked against a brute-force loop over users."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from gnn.data import TrainData
from gnn.evaluate import evaluate, per_user_metrics, rank

NUM_USERS, NUM_ITEMS, DIM, KS = 37, 40, 8, (5, 10)


@pytest.fixture(scope="module")
def data() -> TrainData:
    """37 users with 6..14 items each (users 0 and 20 have none), split 80/10/10."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(NUM_USERS):
        if u in (0, 20):
            continue
        chosen = rng.choice(NUM_ITEMS, int(rng.integers(6, 15)), replace=False)
        users += [u] * len(chosen)
        items += chosen.tolist()
    return TrainData.from_interactions(users, items, NUM_USERS, NUM_ITEMS, seed=0)


@pytest.fixture(scope="module")
def embeddings(data: TrainData) -> tuple[Tensor, Tensor]:
    """Random items; each user is the sum of its training items plus noise, so its own
    training items score near the top and any masking slip would put them in the lists."""
    gen = torch.Generator().manual_seed(1)
    item_emb = torch.randn(NUM_ITEMS, DIM, generator=gen)
    user_emb = 0.3 * torch.randn(NUM_USERS, DIM, generator=gen)
    user_emb.index_add_(0, data.train_user, item_emb[data.train_item])
    return user_emb, item_emb


def _items_of(pairs: tuple[Tensor, Tensor], user: int) -> set[int]:
    users, items = pairs
    return set(items[users == user].tolist())


def brute_force(
    data: TrainData, user_emb: Tensor, item_emb: Tensor, split: str
) -> dict[int, tuple[dict[str, float], list[int]]]:
    """Per user with items in ``split``: score every item, drop the masked ones, sort, and
    compute each metric from its definition, one user at a time. Returns each user's metrics
    and top ``max(KS)`` items."""
    masked_splits = ["train"] + (["valid"] if split == "test" else [])
    out: dict[int, tuple[dict[str, float], list[int]]] = {}
    for u in sorted(set(data.pairs(split)[0].tolist())):
        relevant = _items_of(data.pairs(split), u)
        masked = set().union(*(_items_of(data.pairs(s), u) for s in masked_splits))
        scores = (item_emb @ user_emb[u]).tolist()
        ranked = sorted((i for i in range(NUM_ITEMS) if i not in masked), key=lambda i: -scores[i])
        metrics: dict[str, float] = {}
        for k in KS:
            hits = [i in relevant for i in ranked[:k]]
            dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
            ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
            first = next((r for r, h in enumerate(hits) if h), None)
            metrics[f"recall@{k}"] = sum(hits) / len(relevant)
            metrics[f"precision@{k}"] = sum(hits) / k
            metrics[f"hit@{k}"] = float(any(hits))
            metrics[f"ndcg@{k}"] = dcg / ideal
            metrics[f"mrr@{k}"] = 0.0 if first is None else 1 / (first + 1)
        out[u] = metrics, ranked[: max(KS)]
    return out


@pytest.mark.parametrize("split", ["valid", "test"])
@pytest.mark.parametrize("batch_size", [1, 3, 8, 1024])
def test_batched_evaluation_matches_brute_force_per_user(
    data: TrainData, embeddings: tuple[Tensor, Tensor], split: str, batch_size: int
) -> None:
    user_emb, item_emb = embeddings
    expected = brute_force(data, user_emb, item_emb, split)
    assert len(expected) > 3 * 8, "the batches must split the evaluated users several times"
    users, values = per_user_metrics(user_emb, item_emb, data, split, KS, batch_size=batch_size)
    assert users.tolist() == sorted(expected)
    for row, u in enumerate(users.tolist()):
        for name, per_user in values.items():
            assert float(per_user[row]) == pytest.approx(expected[u][0][name], abs=1e-12), (u, name)
    ranked_users, top = rank(user_emb, item_emb, data, split, max(KS), batch_size=batch_size)
    assert ranked_users.tolist() == sorted(expected)
    assert {u: t for u, t in zip(ranked_users.tolist(), top.tolist(), strict=True)} == {
        u: top for u, (_, top) in expected.items()
    }
    means = evaluate(user_emb, item_emb, data, split, KS, batch_size=batch_size)
    for name, value in means.items():
        assert value == pytest.approx(
            sum(m[name] for m, _ in expected.values()) / len(expected), abs=1e-12
        )


def test_masking_matters_for_these_embeddings(
    data: TrainData, embeddings: tuple[Tensor, Tensor]
) -> None:
    """Without the mask most top-10 lists would hold training items, so a mask applied to the
    wrong row (another batch's user) could not go unnoticed above."""
    user_emb, item_emb = embeddings
    users = sorted(set(data.valid_user.tolist()))
    unmasked = (user_emb[users] @ item_emb.T).topk(10, dim=1).indices
    holding = sum(
        bool(_items_of(data.pairs("train"), u) & set(row))
        for u, row in zip(users, unmasked.tolist(), strict=True)
    )
    assert holding == len(users)
