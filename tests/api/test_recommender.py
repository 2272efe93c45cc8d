"""RecommenderService on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serving.recommender import (
    ArtifactMismatchError,
    RecommenderService,
    UnknownUserError,
    seen_csr,
)
from tests.api.tiny_model import tiny_checkpoint, tiny_snapshot


@pytest.fixture
def service() -> RecommenderService:
    snapshot = tiny_snapshot()
    return RecommenderService.from_artifacts(snapshot, tiny_checkpoint(snapshot))


def _ids(service: RecommenderService, user: str, k: int, exclude_seen: bool = True) -> list[str]:
    return [r.item_id for r in service.recommend(user, k, exclude_seen=exclude_seen)]


@pytest.mark.parametrize(
    ("user", "k", "exclude_seen", "expected"),
    [
        ("u1", 3, True, ["i1", "i3", "i4"]),
        ("u1", 3, False, ["i1", "i2", "i3"]),
        ("u1", 10, True, ["i1", "i3", "i4", "i5"]),
        ("u2", 2, True, ["i4", "i1"]),
        ("u2", 5, True, ["i4", "i1", "i2", "i3", "i5"]),
        ("u3", 3, True, []),
        ("u3", 1, False, ["i1"]),  # i1 and i4 tie at 1.0: lower index first
    ],
)
def test_top_k(
    service: RecommenderService, user: str, k: int, exclude_seen: bool, expected: list[str]
) -> None:
    assert _ids(service, user, k, exclude_seen) == expected


def test_scores_are_inner_products(service: RecommenderService) -> None:
    scores = [r.score for r in service.recommend("u2", 3)]
    assert scores == pytest.approx([1.0, 0.1, 0.08])


def test_seen_items_deduplicated(service: RecommenderService) -> None:
    assert service.seen_items("u1") == ["i2"]
    assert service.seen_items("u2") == []


def test_errors(service: RecommenderService) -> None:
    with pytest.raises(UnknownUserError, match="'nobody'"):
        service.recommend("nobody", 3)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        service.recommend("u1", 0)


def test_reordered_checkpoint_ids_are_mapped() -> None:
    snapshot = tiny_snapshot()
    ckpt = tiny_checkpoint(snapshot)
    order = [4, 3, 2, 1, 0]  # reverse the checkpoint's item order, embeddings alike
    ckpt.item_ids = [ckpt.item_ids[i] for i in order]
    ckpt.item_embeddings = ckpt.item_embeddings[order]
    service = RecommenderService.from_artifacts(snapshot, ckpt)
    assert _ids(service, "u1", 3) == ["i1", "i3", "i4"]
    assert service.seen_items("u1") == ["i2"]


def test_mismatched_ids_fail_clearly() -> None:
    snapshot = tiny_snapshot()
    ckpt = tiny_checkpoint(snapshot)
    ckpt.item_ids = [*ckpt.item_ids[:-1], "other"]
    with pytest.raises(ArtifactMismatchError, match=r"1 item\(s\) in the snapshot.*'i5'"):
        RecommenderService.from_artifacts(snapshot, ckpt)


def test_shape_checks() -> None:
    indptr = np.zeros(2, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match=r"user_embeddings must have shape \[1, dim\]"):
        RecommenderService(torch.zeros(2, 2), torch.zeros(1, 2), ["u"], ["i"], indptr, none)
    with pytest.raises(ValueError, match="dims differ: 2 vs 3"):
        RecommenderService(torch.zeros(1, 2), torch.zeros(1, 3), ["u"], ["i"], indptr, none)


def test_seen_csr() -> None:
    users = np.array([2, 0, 2, 2], dtype=np.int64)
    items = np.array([1, 3, 0, 1], dtype=np.int64)
    indptr, indices = seen_csr(users, items, num_users=4)
    assert indptr.tolist() == [0, 1, 1, 3, 3]
    assert indices.tolist() == [3, 0, 1]
