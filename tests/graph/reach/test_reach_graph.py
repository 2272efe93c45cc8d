"""Influence graph construction and edge probabilities (uniform, WC, LT, learned from the log)."""

from __future__ import annotations

import numpy as np
import pytest

from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform, weighted_cascade
from graph.reach.learned import learned_from_log
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot


def _edges(graph: InfluenceGraph) -> set[tuple[str, str]]:
    return {
        (graph.label(int(u)), graph.label(int(v)))
        for u, v in zip(graph.sources, graph.indices, strict=True)
    }


def _snapshot() -> Snapshot:
    users = [User(u) for u in ("a", "b", "c", "d")]
    friendships = [
        Friendship("b", "a", "follow"),  # b follows a: influence a -> b
        Friendship("c", "a", "follow"),  # c follows a: influence a -> c
        Friendship("c", "d", "friend"),  # mutual: c <-> d
        Friendship("d", "c", "follow"),  # duplicate of the friendship direction c -> d
    ]
    interactions = [
        Interaction("a", "i1", "purchase", ts=100),
        Interaction("a", "i1", "purchase", ts=400),  # repeat: first adoption counts
        Interaction("a", "i2", "purchase", ts=200),
        Interaction("a", "i3", "purchase", ts=300),
        Interaction("a", "i4", "view", ts=10),  # not an adoption kind
        Interaction("b", "i1", "purchase", ts=150),  # a -> b within the window
        Interaction("b", "i2", "purchase", ts=500),  # a -> b too late
        Interaction("c", "i3", "purchase", ts=300),  # same time: not a propagation
        Interaction("c", "i1", "purchase", ts=50),  # before a
        Interaction("d", "i3", "purchase", ts=-1),  # unknown time: ignored
    ]
    items = [Item(i) for i in ("i1", "i2", "i3", "i4")]
    return build_snapshot(users, items, friendships, interactions, source="test")


def test_from_snapshot_reverses_attention_and_dedups() -> None:
    graph = InfluenceGraph.from_snapshot(_snapshot())
    assert _edges(graph) == {("a", "b"), ("a", "c"), ("c", "d"), ("d", "c")}
    assert graph.prob is None
    assert dict(zip(graph.ids or [], graph.out_degree.tolist(), strict=True)) == {
        "a": 2,
        "b": 0,
        "c": 1,
        "d": 1,
    }
    follows = InfluenceGraph.from_snapshot(_snapshot(), kinds=["follow"])
    assert _edges(follows) == {("a", "b"), ("a", "c"), ("c", "d")}
    with pytest.raises(ValueError, match="kinds contains 'like'"):
        InfluenceGraph.from_snapshot(_snapshot(), kinds=["like"])


def test_from_edges_drops_self_loops_keeps_max_probability() -> None:
    graph = InfluenceGraph.from_edges([0, 0, 1, 2], [1, 1, 1, 0], 3, prob=[0.2, 0.7, 0.9, 0.4])
    assert graph.indptr.tolist() == [0, 1, 1, 2]
    assert graph.indices.tolist() == [1, 0]
    assert graph.prob is not None
    assert graph.prob.tolist() == pytest.approx([0.7, 0.4])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src": [0], "dst": [3], "num_nodes": 3}, "dst has node 3 outside"),
        ({"src": [0, 1], "dst": [1], "num_nodes": 3}, "differ in length"),
        ({"src": [0], "dst": [1], "num_nodes": 3, "prob": [1.5]}, r"prob\[0\] = 1.5"),
        ({"src": [0], "dst": [1], "num_nodes": 3, "prob": [-0.1]}, r"outside \[0, 1\]"),
        ({"src": [0], "dst": [1], "num_nodes": 3, "ids": ["x"]}, "ids has 1 entries"),
        ({"src": [], "dst": [], "num_nodes": -1}, "num_nodes must be >= 0"),
    ],
)
def test_from_edges_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InfluenceGraph.from_edges(**kwargs)


def test_probability_assignments() -> None:
    graph = InfluenceGraph.from_edges([0, 1, 2, 0], [2, 2, 1, 1], 3)
    assert uniform(graph, 0.3).prob.tolist() == pytest.approx([0.3] * 4)  # type: ignore[union-attr]
    wc = weighted_cascade(graph)
    assert wc.in_weight_sums().tolist() == pytest.approx([0.0, 1.0, 1.0])
    heavy = uniform(graph, 0.8)
    lt = lt_normalized(heavy)
    assert lt.in_weight_sums().max() == pytest.approx(1.0)
    light = lt_normalized(uniform(graph, 0.2))
    assert light.prob.tolist() == pytest.approx([0.2] * 4)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="p must be in"):
        uniform(graph, 1.2)
    with pytest.raises(ValueError, match="prob has 2 entries"):
        graph.with_probabilities([0.1, 0.2])
    with pytest.raises(ValueError, match="no edge probabilities"):
        lt_normalized(graph)


def test_networkx_round_trip() -> None:
    graph = uniform(InfluenceGraph.from_edges([0, 1], [1, 2], 3, ids=["x", "y", "z"]), 0.25)
    nxg = graph.to_networkx()
    assert set(nxg.edges(data="p")) == {("x", "y", 0.25), ("y", "z", 0.25)}
    back = InfluenceGraph.from_networkx(nxg)
    assert back.ids == ["x", "y", "z"]
    assert _edges(back) == _edges(graph)
    assert back.prob is not None and back.prob.tolist() == pytest.approx([0.25, 0.25])


def test_node_lookup_errors() -> None:
    graph = InfluenceGraph.from_edges([0], [1], 2, ids=["x", "y"])
    assert graph.node("y") == 1 and graph.node(0) == 0
    with pytest.raises(ValueError, match="unknown user 'q'"):
        graph.node("q")
    with pytest.raises(ValueError, match="unknown user 5"):
        graph.node(5)


def test_learned_probabilities_match_hand_computation() -> None:
    snapshot = _snapshot()
    graph = InfluenceGraph.from_snapshot(snapshot, kinds=["follow"])
    raw = learned_from_log(graph, snapshot, window_s=100, smoothing=0.0)
    # A_a = 3 (i1, i2, i3); a -> b propagates i1 only (dt 50); a -> c none; c -> d none.
    assert raw.actions.tolist() == [3, 2, 2, 0]
    probs = dict(zip(_edges_in_order(raw.graph), raw.graph.prob.tolist(), strict=True))  # type: ignore[union-attr]
    assert probs == pytest.approx({("a", "b"): 1 / 3, ("a", "c"): 0.0, ("c", "d"): 0.0})
    assert raw.prior == pytest.approx(1 / (3 + 3 + 2))

    smoothed = learned_from_log(graph, snapshot, window_s=100, smoothing=1.0, prior=0.1)
    probs = dict(zip(_edges_in_order(smoothed.graph), smoothed.graph.prob.tolist(), strict=True))  # type: ignore[union-attr]
    assert probs == pytest.approx(
        {("a", "b"): (1 + 0.1) / (3 + 1), ("a", "c"): 0.1 / 4, ("c", "d"): 0.1 / 3}
    )
    wide = learned_from_log(graph, snapshot, window_s=1000, smoothing=0.0)
    probs = dict(zip(_edges_in_order(wide.graph), wide.graph.prob.tolist(), strict=True))  # type: ignore[union-attr]
    assert probs[("a", "b")] == pytest.approx(2 / 3)  # i2 (dt 300) now inside the window


def _edges_in_order(graph: InfluenceGraph) -> list[tuple[str, str]]:
    return [
        (graph.label(int(u)), graph.label(int(v)))
        for u, v in zip(graph.sources, graph.indices, strict=True)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0}, "window_s must be > 0"),
        ({"smoothing": -1.0}, "smoothing must be >= 0"),
        ({"prior": 2.0}, "prior must be in"),
        ({"kinds": ["like"]}, "kinds contains 'like'"),
    ],
)
def test_learned_validation(kwargs: dict, message: str) -> None:
    snapshot = _snapshot()
    graph = InfluenceGraph.from_snapshot(snapshot)
    with pytest.raises(ValueError, match=message):
        learned_from_log(graph, snapshot, **kwargs)


def test_learned_rejects_mismatched_graph() -> None:
    snapshot = _snapshot()
    other = InfluenceGraph.from_edges([0], [1], 4, ids=["p", "q", "r", "s"])
    with pytest.raises(ValueError, match="graph ids do not match"):
        learned_from_log(other, snapshot)


def test_learned_on_empty_log_uses_prior() -> None:
    users = [User("a"), User("b")]
    snapshot = build_snapshot(users, [], [Friendship("b", "a", "follow")], [], source="t")
    graph = InfluenceGraph.from_snapshot(snapshot)
    out = learned_from_log(graph, snapshot, smoothing=2.0, prior=0.05)
    assert out.graph.prob is not None and out.graph.prob.tolist() == pytest.approx([0.05])
    assert np.all(out.actions == 0)
