"""Affinity calibration for qualified reach (serving.affinity)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.checkpoint import Checkpoint
from graph.reach.influence_graph import InfluenceGraph
from serving.affinity import graph_affinity, item_affinity, percentile_affinity


def _checkpoint() -> Checkpoint:
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.5, 0.5]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    return Checkpoint(
        model_name="lightgcn",
        model_config={},
        train_config={},
        state_dict={},
        user_embeddings=users,
        item_embeddings=items,
        user_ids=["a", "b", "c", "d"],
        item_ids=["x", "y"],
        snapshot_fingerprint="f",
    )


def test_percentile_rank_calibration() -> None:
    assert percentile_affinity(np.array([3.0, 1.0, 2.0])).tolist() == [1.0, 0.0, 0.5]
    assert percentile_affinity(np.array([1.0, 1.0, 5.0])).tolist() == [0.25, 0.25, 1.0]
    assert percentile_affinity(np.array([7.0])).tolist() == [0.5]
    with pytest.raises(ValueError, match=r"scores\[1\] = nan"):
        percentile_affinity(np.array([1.0, np.nan]))


def test_item_and_graph_affinity() -> None:
    ckpt = _checkpoint()
    # scores for x: a 1, b 0, c 2, d 0.5 -> ranks 3, 1, 4, 2
    assert item_affinity(ckpt, "x").tolist() == pytest.approx([2 / 3, 0.0, 1.0, 1 / 3])
    graph = InfluenceGraph.from_edges([0], [1], 3, ids=["c", "zz", "a"])
    assert graph_affinity(graph, ckpt, "x", missing=0.1).tolist() == pytest.approx(
        [1.0, 0.1, 2 / 3]
    )
    with pytest.raises(ValueError, match="item_id 'q' is not known"):
        item_affinity(ckpt, "q")
    with pytest.raises(ValueError, match="graph has no user ids"):
        graph_affinity(InfluenceGraph.from_edges([0], [1], 2), ckpt, "x")
