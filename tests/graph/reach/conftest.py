"""Fixtures shared by the reach tests: a random weighted-cascade graph and an affinity."""

from __future__ import annotations

import numpy as np
import pytest

from graph.reach.influence_graph import InfluenceGraph, weighted_cascade


@pytest.fixture(scope="module")
def graph() -> InfluenceGraph:
    """Weighted cascade: valid for IC and, with incoming weights summing to 1, for LT."""
    rng = np.random.default_rng(8)
    n = 2000
    topo = InfluenceGraph.from_edges(
        rng.integers(0, n, 16_000), rng.integers(0, n, 16_000), n, ids=[f"u{i}" for i in range(n)]
    )
    return weighted_cascade(topo)


@pytest.fixture(scope="module")
def affinity(graph: InfluenceGraph) -> np.ndarray:
    return np.random.default_rng(3).random(graph.num_nodes)
