"""RecommenderService: checkpoint embeddings in the snapshot's order, checked."""

from __future__ import annotations

import pytest
import torch

from serving.recommender import ArtifactMismatchError, RecommenderService
from tests.api.tiny_model import tiny_checkpoint, tiny_snapshot


def test_reordered_checkpoint_ids_are_mapped() -> None:
    snapshot = tiny_snapshot()
    ckpt = tiny_checkpoint(snapshot)
    order = [4, 3, 2, 1, 0]  # reverse the checkpoint's item order, embeddings alike
    ckpt.item_ids = [ckpt.item_ids[i] for i in order]
    ckpt.item_embeddings = ckpt.item_embeddings[order]
    service = RecommenderService.from_artifacts(snapshot, ckpt)
    assert service.item_ids == snapshot.item_ids
    for n, item in enumerate(snapshot.item_ids):  # row n is the snapshot's item n
        assert torch.equal(
            service.item_embeddings[n], ckpt.item_embeddings[ckpt.item_ids.index(item)]
        )


def test_mismatched_ids_fail_clearly() -> None:
    snapshot = tiny_snapshot()
    ckpt = tiny_checkpoint(snapshot)
    ckpt.item_ids = [*ckpt.item_ids[:-1], "other"]
    with pytest.raises(ArtifactMismatchError, match=r"1 item\(s\) in the snapshot.*'i5'"):
        RecommenderService.from_artifacts(snapshot, ckpt)


def test_shape_checks() -> None:
    with pytest.raises(ValueError, match=r"user_embeddings must have shape \[1, dim\]"):
        RecommenderService(torch.zeros(2, 2), torch.zeros(1, 2), ["u"], ["i"])
    with pytest.raises(ValueError, match="dims differ: 2 vs 3"):
        RecommenderService(torch.zeros(1, 2), torch.zeros(1, 3), ["u"], ["i"])
