"""Monte-Carlo reach vs exact enumeration, sum rules, reproducibility and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from graph.reach import kernel_graph as kg_module
from graph.reach.estimate import estimate_reach
from graph.reach.exact import exact_reach, exact_spread
from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform

SIMS = 20_000


def tiny_graph(seed: int, num_nodes: int = 7, num_edges: int = 12) -> InfluenceGraph:
    """A random directed graph with at most ``num_edges`` uncertain edges."""
    rng = np.random.default_rng(seed)
    pairs = [(u, v) for u in range(num_nodes) for v in range(num_nodes) if u != v]
    chosen = rng.choice(len(pairs), size=num_edges, replace=False)
    src = [pairs[i][0] for i in chosen]
    dst = [pairs[i][1] for i in chosen]
    ids = [f"u{i}" for i in range(num_nodes)]
    prob = rng.uniform(0.15, 0.85, num_edges)
    return InfluenceGraph.from_edges(src, dst, num_nodes, prob=prob, ids=ids)


def model_graph(model: str, seed: int) -> InfluenceGraph:
    graph = tiny_graph(seed)
    return lt_normalized(graph) if model == "lt" else graph


SEED_SETS = [["u0"], ["u1", "u4"], ["u2", "u3", "u6"]]


@pytest.mark.parametrize("model", ["ic", "lt"])
@pytest.mark.parametrize("graph_seed", [0, 1])
def test_monte_carlo_matches_exact(model: str, graph_seed: int) -> None:
    graph = model_graph(model, graph_seed)
    affinity = np.linspace(0.0, 1.0, graph.num_nodes)
    for seeds in SEED_SETS:
        exact = exact_reach(graph, seeds, model=model, affinity=affinity)  # type: ignore[arg-type]
        mc = estimate_reach(graph, seeds, model=model, simulations=SIMS, seed=7, affinity=affinity)  # type: ignore[arg-type]
        assert abs(mc.reach.mean - exact.reach) < 4 * mc.reach.std_error + 1e-6
        assert mc.qualified is not None and exact.qualified is not None
        assert abs(mc.qualified.mean - exact.qualified) < 4 * mc.qualified.std_error + 1e-6
        assert mc.per_seed is not None and mc.overlap is not None
        for i, contribution in enumerate(mc.per_seed):
            a, m = contribution.alone, contribution.marginal
            assert abs(a.mean - exact.alone[i]) < 4 * a.std_error + 1e-6
            assert abs(m.mean - exact.marginal[i]) < 4 * m.std_error + 1e-6
        # by hop and overlaps: no per-entry SE is reported; bound by the reach SE scale.
        tol = 6 * np.sqrt(graph.num_nodes / SIMS)
        hops = np.zeros(max(len(mc.by_hop), len(exact.by_hop)))
        hops[: len(mc.by_hop)] += mc.by_hop
        hops[: len(exact.by_hop)] -= exact.by_hop
        assert np.abs(hops).max() < tol
        assert np.abs(np.array(mc.overlap) - np.array(exact.overlap)).max() < tol


@pytest.mark.parametrize(("method", "step_cost"), [("scan", 1e9), ("skip", 0.0)])
def test_both_row_sampling_methods_are_exact(
    method: str, step_cost: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IC rows are sampled by a test per edge or by geometric skipping (chosen per row by
    cost); force each one everywhere and compare with exact values."""
    monkeypatch.setattr(kg_module, "_SKIP_STEP_COST", step_cost)
    for graph_seed in (0, 1):
        graph = tiny_graph(graph_seed)
        rows = kg_module.kernel_graph(graph).out
        assert (rows.scan[np.diff(rows.ptr) > 0] == (method == "scan")).all()
        for seeds in SEED_SETS:
            exact = exact_reach(graph, seeds)
            mc = estimate_reach(graph, seeds, simulations=SIMS, seed=3)
            assert abs(mc.reach.mean - exact.reach) < 4 * mc.reach.std_error + 1e-6
            assert mc.per_seed is not None
            for i, contribution in enumerate(mc.per_seed):
                a = contribution.alone
                assert abs(a.mean - exact.alone[i]) < 4 * a.std_error + 1e-6
    # A long row with unequal probabilities (thinning): reach of the hub = 1 + sum(p), and its
    # variance sum(p (1 - p)) holds only if the edges are independent.
    p = np.linspace(0.001, 0.2, 300)
    star = InfluenceGraph.from_edges(np.zeros(300, int), np.arange(1, 301), 301, prob=p)
    reached = estimate_reach(star, [0], simulations=SIMS, seed=5).reach
    assert abs(reached.mean - (1 + p.sum())) < 4 * reached.std_error
    variance = reached.std_error**2 * SIMS
    assert variance == pytest.approx(float(np.sum(p * (1 - p))), rel=0.06)


@pytest.mark.parametrize("model", ["ic", "lt"])
def test_sum_rules_hold_per_world(model: str) -> None:
    graph = model_graph(model, 2)
    seeds = ["u1", "u2", "u5"]
    est = estimate_reach(graph, seeds, model=model, simulations=3000, seed=3)  # type: ignore[arg-type]
    assert est.per_seed is not None and est.overlap is not None and est.shared is not None
    marginal = sum(s.marginal.mean for s in est.per_seed)
    # reach = sum of marginals + users reached by >= 2 seeds (exact per world).
    assert est.reach.mean == pytest.approx(marginal + est.shared.mean, abs=1e-9)
    overlap = np.array(est.overlap)
    assert np.allclose(overlap, overlap.T)
    assert np.diag(overlap) == pytest.approx([s.alone.mean for s in est.per_seed])
    assert sum(est.by_hop) == pytest.approx(est.reach.mean)
    assert est.by_hop[0] == len(seeds)  # seeds are included, at hop 0
    assert sum(s.alone.mean for s in est.per_seed) >= est.reach.mean
    # Common random numbers: marginal[i] is exactly reach(S) - reach(S \ {i}) on the same worlds.
    for i, seed_id in enumerate(seeds):
        rest = [s for s in seeds if s != seed_id]
        without = estimate_reach(graph, rest, model=model, simulations=3000, seed=3)  # type: ignore[arg-type]
        alone = estimate_reach(graph, [seed_id], model=model, simulations=3000, seed=3)  # type: ignore[arg-type]
        assert est.per_seed[i].marginal.mean == pytest.approx(
            est.reach.mean - without.reach.mean, abs=1e-9
        )
        assert est.per_seed[i].alone.mean == pytest.approx(alone.reach.mean, abs=1e-9)
    # The same rules hold exactly for the exact expectations.
    exact = exact_reach(graph, seeds, model=model)  # type: ignore[arg-type]
    assert exact.reach == pytest.approx(sum(exact.marginal) + exact.shared)
    spreads = exact_spread(graph, [seeds, seeds[1:]], model=model)  # type: ignore[arg-type]
    assert exact.marginal[0] == pytest.approx(spreads[0] - spreads[1])


def test_reproducible_and_independent_of_threads() -> None:
    graph = uniform(InfluenceGraph.from_edges(*_ring(200), 200), 0.4)
    a = estimate_reach(graph, [0, 50, 100], simulations=500, seed=11, jobs=1)
    b = estimate_reach(graph, [0, 50, 100], simulations=500, seed=11, jobs=2)
    c = estimate_reach(graph, [0, 50, 100], simulations=500, seed=12, jobs=2)
    assert a == b
    assert a.reach != c.reach
    d = estimate_reach(graph, [0, 50, 100], simulations=500)
    again = estimate_reach(graph, [0, 50, 100], simulations=500, seed=d.seed)
    assert d == again


def _ring(n: int) -> tuple[list[int], list[int]]:
    src = list(range(n)) + list(range(n))
    dst = [(i + 1) % n for i in range(n)] + [(i + 7) % n for i in range(n)]
    return src, dst


def test_deterministic_cases() -> None:
    chain = InfluenceGraph.from_edges([0, 1, 2], [1, 2, 3], 5, ids=list("abcde"))
    full = estimate_reach(uniform(chain, 1.0), ["a"], simulations=10, seed=0)
    assert full.reach.mean == 4 and full.reach.std_error == 0
    assert full.by_hop == [1, 1, 1, 1]
    none = estimate_reach(uniform(chain, 0.0), ["a", "e"], simulations=10, seed=0)
    assert none.reach.mean == 2 and none.by_hop == [2]
    lt = estimate_reach(uniform(chain, 1.0), ["b"], model="lt", simulations=10, seed=0)
    assert lt.reach.mean == 3


def test_attribution_through_an_edge_to_an_earlier_user() -> None:
    # a -> x -> z and b -> y -> x (all certain): x is reached at hop 1 from a, and b's path
    # to it (hop 2) arrives after x was labelled, so b's label must still reach z.
    graph = uniform(
        InfluenceGraph.from_edges([0, 1, 3, 2], [2, 3, 2, 4], 5, ids=["a", "b", "x", "y", "z"]),
        1.0,
    )
    est = estimate_reach(graph, ["a", "b"], simulations=4, seed=0)
    assert est.per_seed is not None and est.shared is not None
    assert [s.alone.mean for s in est.per_seed] == [3, 4]  # {a, x, z}, {b, y, x, z}
    assert [s.marginal.mean for s in est.per_seed] == [1, 2]  # {a}, {b, y}
    assert est.shared.mean == 2 and est.reach.mean == 5
    assert est.overlap == [[3, 2], [2, 4]]


@pytest.mark.parametrize(
    ("seeds", "kwargs", "message"),
    [
        ([], {}, "seeds is empty"),
        (["zz"], {}, "unknown user 'zz'"),
        ([9], {}, "unknown user 9"),
        (["a", "a"], {}, "seeds contains 'a' more than once"),
        (["a"], {"simulations": 1}, r"simulations must be an int in \[2, 100000\]"),
        (["a"], {"simulations": 10**6}, "got 1000000"),
        (["a"], {"simulations": 50, "max_simulations": 20}, r"\[2, 20\]"),
        (["a"], {"model": "sir"}, "model must be one of"),
        (["a"], {"affinity": np.array([1.0, -1.0, 0, 0, 0])}, r"affinity\[1\] = -1.0"),
        (["a"], {"affinity": np.ones(3)}, "affinity must have shape"),
        (["a"], {"seed": -5}, "seed must be a non-negative int"),
    ],
)
def test_validation(seeds: list, kwargs: dict, message: str) -> None:
    graph = uniform(InfluenceGraph.from_edges([0, 1, 2], [1, 2, 3], 5, ids=list("abcde")), 0.5)
    with pytest.raises(ValueError, match=message):
        estimate_reach(graph, seeds, **kwargs)


def test_validation_of_graph_probabilities() -> None:
    topo = InfluenceGraph.from_edges([0, 1, 2], [3, 3, 3], 4)
    with pytest.raises(ValueError, match="no edge probabilities"):
        estimate_reach(topo, [0])
    with pytest.raises(ValueError, match=r"node '3' has 1\.5"):
        estimate_reach(uniform(topo, 0.5), [0], model="lt")
    with pytest.raises(ValueError, match="outside"):
        topo.with_probabilities([0.5, 1.01, 0.2])
    many = InfluenceGraph.from_edges([], [], 70)
    with pytest.raises(ValueError, match="at most 64 seeds"):
        estimate_reach(uniform(many, 0.1), list(range(65)))
    big = estimate_reach(uniform(many, 0.1), list(range(65)), attribution=False, simulations=4)
    assert big.reach.mean == 65 and big.per_seed is None


def test_exact_rejects_large_graphs() -> None:
    graph = tiny_graph(0, num_nodes=8, num_edges=20)
    with pytest.raises(ValueError, match="max_worlds"):
        exact_reach(graph, ["u0"], max_worlds=1000)
