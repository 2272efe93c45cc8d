"""Reach benchmark: our IC Monte-Carlo vs cynetdiff, IMM planning, synthetic-world planning.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/reach.py [--nodes 200000] [--jobs 2]``

1. A directed Chung-Lu power-law graph (expected in/out degrees ``~ rank^(-1/(gamma-1))``,
   independent in/out rank orders, fixed seed, self-loops and duplicates removed).
2. Seeds: the 10 highest out-degree nodes; 1,000 simulations; IC with uniform ``p`` and with
   weighted cascade. The baseline is cynetdiff (single-threaded). Ours runs with 1 thread
   (``speedup_*`` in RESULT: the like-for-like ratio, one thread each) and with ``--jobs``
   threads (``speedup_<jobs>t_*``, e.g. ``speedup_2t_uniform``); the thread counts are
   printed. Both libraries count the seeds in the spread. Agreement:
   ``z = |mean_ours - mean_cynetdiff| / sqrt(se_ours^2 + se_cynetdiff^2)``.
   Times are per 1,000 simulations, after a warm-up (numba compile / cache load excluded),
   measured ``--repeats`` times in turn (cynetdiff, ours with ``--jobs``, ours with 1 thread)
   in one run; each side's best time is reported.
3. Planning ``k = 50`` with IMM on the uniform graph (time of the whole ``plan_campaign``
   call, including the Monte-Carlo estimates of the plan and of the top-out-degree baseline).
4. Synthetic social-commerce worlds (``graph.synthetic`` with ``SYNTHETIC_WORLD``, generator
   seeds ``--world-seeds``: KOL follows mostly by interest, ``kol_niche_share = 0.9``, with
   loyal fans, ``kol_fan_loyalty = 1``, and 8 follows per user, so KOLs of one niche share a
   large part of their audiences). A campaign post is seen by each follower of a KOL with
   probability ``--post-reach`` (default 0.2, an assumption: the high end of an influencer
   post's organic reach) and spreads on with the world's ground-truth probabilities. Plan
   ``k = 10`` KOLs from the 200 most-followed against the top-10-followers set for:
   ``qualified`` reach with each item category in turn as the promoted one (affinity = the
   user's share of engagements in that category, from the world's log; the campaign
   planners' question, "likely buyers reached"); plain ``reach``; and ``adoption``, plain
   reach with the ground-truth probabilities alone (purchase influence, mean edge p ~0.03).
   Diagnostics: the share of the top set's distinct followers who follow 2+ of them, the
   follower Jaccard of same-niche and other pairs in the top set, and the share of its reach
   reached by 2+ of them. Planning for an item wins clearly: the top-followers set ignores
   whose audience buys the category. For plain reach it gains a few percent at most: with
   per-edge probabilities this low, reach is nearly additive whatever the follower overlap (a
   follower of two KOLs is reached by both with probability ``p1 * p2``), and the outsiders'
   audiences are smaller (Zipf fame) and overlap the chosen set too.

The last line is ``RESULT key=value ...``.

``--runners`` measures instead where the work runs: the same estimates and plans in-process
(``--jobs`` threads), on a :class:`graph.reach.parallel.ProcessPool` and on a
:class:`graph.reach.dask_runner.DaskRunner` over a local Dask cluster on loopback (as many
worker processes as ``--jobs``, one thread each) at ``--runner-users`` (default 10,000 and
100,000 users: Chung-Lu graphs with 10 edges per user, weighted cascade). Start-up is timed
once (the pool: spawn, graph shipped, first estimate; Dask: graph scattered to the running
cluster, first estimate); each call's best of ``--repeats``, the runners taking turns. RESULT
gives per size the seconds per call on each runner and ``dask_over_process_*`` (Dask's overhead
as a ratio to the process pool; the results are identical, which the run checks).
"""

from __future__ import annotations

import argparse
import array
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.reach.estimate import estimate_reach
from graph.reach.influence_graph import InfluenceGraph, uniform, weighted_cascade
from graph.reach.plan import plan_campaign, top_followers
from graph.snapshot import build_snapshot
from graph.synthetic import WorldConfig, generate_world


def chung_lu(
    num_nodes: int, num_edges: int, *, gamma: float = 2.5, seed: int = 0
) -> InfluenceGraph:
    """A directed Chung-Lu graph with about ``num_edges`` distinct edges (vectorised)."""
    rng = np.random.default_rng(seed)
    weights = (np.arange(num_nodes) + 1.0) ** (-1.0 / (gamma - 1.0))
    w_out = weights[rng.permutation(num_nodes)]
    w_in = weights[rng.permutation(num_nodes)]
    cdf_out = np.cumsum(w_out) / w_out.sum()
    cdf_in = np.cumsum(w_in) / w_in.sum()
    draw = int(num_edges * 1.08)
    src = np.minimum(np.searchsorted(cdf_out, rng.random(draw), side="right"), num_nodes - 1)
    dst = np.minimum(np.searchsorted(cdf_in, rng.random(draw), side="right"), num_nodes - 1)
    keep = src != dst
    key = np.unique(src[keep].astype(np.int64) * num_nodes + dst[keep])
    key = key[rng.permutation(key.shape[0])[:num_edges]]
    return InfluenceGraph.from_edges(key // num_nodes, key % num_nodes, num_nodes)


def cynetdiff_spread(
    graph: InfluenceGraph, seeds: NDArray[np.int32], simulations: int, seed: int
) -> tuple[float, float, float]:
    """(mean, standard error, seconds) of cynetdiff's IC spread with the graph's probabilities
    (cynetdiff runs in the calling thread only)."""
    from cynetdiff.models import IndependentCascadeModel

    assert graph.prob is not None
    starts = array.array("I", graph.indptr[:-1].astype(np.uint32).tobytes())
    edges = array.array("I", graph.indices.astype(np.uint32).tobytes())
    probs = array.array("f", graph.prob.astype(np.float32).tobytes())
    model = IndependentCascadeModel(starts, edges, activation_probs=probs, rng=seed)
    model.set_seeds(seeds.tolist())
    counts = np.empty(simulations)
    t0 = time.perf_counter()
    for i in range(simulations):
        model.reset_model()
        model.advance_until_completion()
        counts[i] = model.get_num_activated_nodes()
    seconds = time.perf_counter() - t0
    return float(counts.mean()), float(counts.std(ddof=1) / np.sqrt(simulations)), seconds


def ours_spread(
    graph: InfluenceGraph,
    seeds: NDArray[np.int32],
    simulations: int,
    seed: int,
    jobs: int,
    attribution: bool = False,
) -> tuple[float, float, float]:
    estimate_reach(
        graph, seeds.tolist(), simulations=2, seed=seed, jobs=jobs, attribution=attribution
    )  # warm-up
    t0 = time.perf_counter()
    est = estimate_reach(
        graph,
        seeds.tolist(),
        simulations=simulations,
        seed=seed,
        jobs=jobs,
        attribution=attribution,
    )
    seconds = time.perf_counter() - t0
    return est.reach.mean, est.reach.std_error, seconds


#: The synthetic world of part 4: default knobs except follows by interest with loyal fans (a
#: fan's KOL follows concentrate on one niche) and 8 follows per user, so same-niche KOLs
#: share a large part of their audiences.
SYNTHETIC_WORLD: dict[str, Any] = {
    "num_items": 2000,
    "avg_follows": 8.0,
    "kol_niche_share": 0.9,
    "kol_fan_loyalty": 1.0,
}


def _jaccard(a: NDArray[np.int32], b: NDArray[np.int32]) -> float:
    return np.intersect1d(a, b).shape[0] / max(np.union1d(a, b).shape[0], 1)


def _plan_ratio(
    graph: InfluenceGraph,
    k: int,
    simulations: int,
    jobs: int,
    affinity: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Plan ``k`` seeds (top-200-followers pool) and compare with the top-followers set."""
    t0 = time.perf_counter()
    plan = plan_campaign(
        graph, k=k, simulations=simulations, seed=11, jobs=jobs, pool_size=200, affinity=affinity
    )
    chosen = plan.estimate.reach if affinity is None else plan.estimate.qualified
    baseline = (
        plan.baseline_estimate.reach if affinity is None else plan.baseline_estimate.qualified
    )
    assert chosen is not None and baseline is not None
    return {
        "seconds": time.perf_counter() - t0,
        "plan": chosen,
        "baseline": baseline,
        "ratio": plan.ratio,
        "method": plan.method,
        "overlap_with_top": len(set(s.seed for s in plan.chosen) & set(plan.baseline)),
    }


def synthetic_plan(
    num_users: int, k: int, simulations: int, jobs: int, post_reach: float, world_seed: int
) -> dict[str, Any]:
    """Plan ``k`` KOLs on a synthetic world, against the top-followers set.

    Objectives: plain reach with a campaign post seen by each follower of a KOL with
    probability ``post_reach`` and spreading on by the world's ground-truth probabilities;
    qualified reach under the same probabilities, once per item category as the promoted one
    (affinity = the user's share of engagements in that category, from the world's log); and
    plain reach under the ground-truth probabilities alone ("adoption")."""
    world = generate_world(
        WorldConfig(num_users=num_users, **{**SYNTHETIC_WORLD, "seed": world_seed})
    )
    snapshot = build_snapshot(
        world.iter_users(),
        world.iter_items(),
        world.iter_friendships(),
        [],
        source="synthetic",
    )
    topo = InfluenceGraph.from_snapshot(snapshot)
    index = np.array([int(uid[1:]) for uid in snapshot.user_ids])
    # Edge u -> v (v attends to u) is live with the receiver's ground-truth probability.
    truth = world.influence_prob[index][topo.indices]
    is_kol = np.zeros(world.num_users, dtype=bool)
    is_kol[world.kol_users] = True
    adoption = topo.with_probabilities(truth)
    campaign = topo.with_probabilities(np.where(is_kol[index][topo.sources], post_reach, truth))
    out: dict[str, Any] = {"users": num_users, "edges": topo.num_edges, "k": k}
    # Audience overlap of the top-followers set: in follower lists, and in reach.
    top = top_followers(topo, k)
    followed = [topo.indices[topo.indptr[v] : topo.indptr[v + 1]] for v in top]
    _, times = np.unique(np.concatenate(followed), return_counts=True)
    niche = dict(zip(world.kol_users.tolist(), world.kol_niche.tolist(), strict=True))
    top_niches = [niche.get(int(index[v]), -1) for v in top]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    same = [_jaccard(followed[i], followed[j]) for i, j in pairs if top_niches[i] == top_niches[j]]
    other = [_jaccard(followed[i], followed[j]) for i, j in pairs if top_niches[i] != top_niches[j]]
    top_set = estimate_reach(campaign, top.tolist(), simulations=simulations, seed=5, jobs=jobs)
    assert top_set.shared is not None and top_set.per_seed is not None
    out["diagnostics"] = {
        "distinct_niches": len(set(top_niches) - {-1}),
        "multi_follower_share": float(np.mean(times >= 2)),
        "same_niche_pairs": len(same),
        "same_niche_jaccard": float(np.mean(same)) if same else float("nan"),
        "other_niche_jaccard": float(np.mean(other)) if other else float("nan"),
        "shared_share": top_set.shared.mean / top_set.reach.mean,
        "sum_alone_over_reach": sum(s.alone.mean for s in top_set.per_seed) / top_set.reach.mean,
        "mean_truth_p": float(np.mean(truth)),
    }
    out["reach"] = _plan_ratio(campaign, k, simulations, jobs)
    out["adoption"] = _plan_ratio(adoption, k, simulations, jobs)
    category = world.item_category[world.inter_item]
    purchases = np.bincount(category[world.purchase_mask], minlength=world.config.num_categories)
    engaged = np.maximum(np.bincount(world.inter_user, minlength=world.num_users), 1)
    out["qualified"] = {}
    for target in np.argsort(-purchases, kind="stable").tolist():
        in_target = np.bincount(world.inter_user[category == target], minlength=world.num_users)
        affinity = (in_target / engaged)[index]
        out["qualified"][target] = _plan_ratio(campaign, k, simulations, jobs, affinity)
        out["qualified"][target]["purchases"] = int(purchases[target])
    return out


def _print_synthetic(synthetic: dict[str, Any], world_seed: int, post_reach: float) -> None:
    d = synthetic["diagnostics"]
    print(
        f"synthetic world seed {world_seed} ({synthetic['users']} users, {synthetic['edges']} "
        f"influence edges), top-{synthetic['k']} followers set: {d['distinct_niches']} "
        f"distinct niches; {d['multi_follower_share']:.1%} of their distinct followers follow 2+"
        f" of them; follower Jaccard {d['same_niche_jaccard']:.3f} for the "
        f"{d['same_niche_pairs']} same-niche pairs, {d['other_niche_jaccard']:.3f} for the "
        f"others; with post reach {post_reach}, {d['shared_share']:.1%} of their reach is "
        f"reached by 2+ of them (sum of reach alone / reach = {d['sum_alone_over_reach']:.3f});"
        f" mean ground-truth edge p {d['mean_truth_p']:.4f}"
    )
    rows = [("reach", synthetic["reach"]), ("adoption", synthetic["adoption"])]
    rows += [
        (f"qualified cat{c} ({r['purchases']} purchases)", r)
        for c, r in synthetic["qualified"].items()
    ]
    for name, r in rows:
        print(
            f"  plan k={synthetic['k']} {name}: plan {r['plan'].mean:.2f} +- "
            f"{r['plan'].std_error:.2f} vs top-followers {r['baseline'].mean:.2f} +- "
            f"{r['baseline'].std_error:.2f} (ratio {r['ratio']:.3f}, {r['method']}, "
            f"{r['overlap_with_top']} of {synthetic['k']} shared) in {r['seconds']:.2f} s"
        )


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = call()
    return time.perf_counter() - t0, result


def runner_overhead(users: int, jobs: int, simulations: int, repeats: int) -> dict[str, float]:
    """Seconds per estimate (``simulations`` worlds, 10 seeds) and per plan (k = 10 from the
    200 most-followed) in-process on ``jobs`` threads, on a ``jobs``-process pool and on a
    local Dask cluster of ``jobs`` one-thread workers, best of ``repeats`` taken in turn (so a
    change in the machine's load hits every runner alike). Start-up is timed once: the pool's
    spawn, graph shipping and first estimate; the graph's scatter to the running cluster and
    the first estimate.

    Raises:
        AssertionError: if a runner's results differ from the in-process ones.
    """
    from distributed import Client, LocalCluster

    from graph.reach.dask_runner import DaskRunner
    from graph.reach.parallel import ProcessPool

    graph = weighted_cascade(chung_lu(users, 10 * users, seed=2015))
    seeds = top_followers(graph, 10).tolist()

    def estimate(runner: Any) -> Any:
        return estimate_reach(
            graph, seeds, simulations=simulations, seed=1, jobs=jobs, processes=runner
        )

    def plan(runner: Any) -> Any:
        return plan_campaign(
            graph,
            k=10,
            pool_size=200,
            simulations=simulations,
            seed=3,
            jobs=jobs,
            processes=runner,
        )

    expected = estimate(None), plan(None)  # also the warm-up: numba cache load
    out: dict[str, float] = {}
    cluster_options = dict(n_workers=jobs, threads_per_worker=1, processes=True)
    with (
        ProcessPool(graph, jobs) as pool,
        LocalCluster(host="127.0.0.1", dashboard_address=None, **cluster_options) as cluster,
        Client(cluster) as client,
    ):
        out["process_start_s"] = _timed(lambda: estimate(pool))[0]  # spawn, ship, first chunks
        t0 = time.perf_counter()
        runner = DaskRunner(graph, client)  # scatter to the running cluster
        estimate(runner)
        out["dask_start_s"] = time.perf_counter() - t0
        runners = {"threads": None, "process": pool, "dask": runner}
        for name, where in runners.items():  # every worker warm, whichever chunks it got first
            assert (estimate(where), plan(where)) == expected, f"{name} differs"
        for what, call in (("estimate", estimate), ("plan", plan)):
            for name in runners:
                out[f"{name}_{what}_s"] = math.inf
            for _ in range(repeats):
                for name, where in runners.items():
                    seconds = _timed(partial(call, where))[0]
                    out[f"{name}_{what}_s"] = min(out[f"{name}_{what}_s"], seconds)
        runner.close()
    for what in ("start", "estimate", "plan"):
        out[f"dask_over_process_{what}"] = out[f"dask_{what}_s"] / out[f"process_{what}_s"]
    return out


def _print_runners(sizes: dict[int, dict[str, float]], jobs: int, simulations: int) -> None:
    for users, r in sizes.items():
        print(
            f"{users} users: estimate ({simulations} worlds) threads {r['threads_estimate_s']:.3f}"
            f" s, processes {r['process_estimate_s']:.3f} s, dask {r['dask_estimate_s']:.3f} s"
            f" | plan k=10 threads {r['threads_plan_s']:.3f} s, processes "
            f"{r['process_plan_s']:.3f} s, dask {r['dask_plan_s']:.3f} s | start-up processes "
            f"{r['process_start_s']:.2f} s, dask {r['dask_start_s']:.2f} s ({jobs} workers each)"
        )
    keys = [
        f"{key}_{users // 1000}k={value:.3f}"
        for users, r in sizes.items()
        for key, value in r.items()
    ]
    print(f"RESULT runners_jobs={jobs} simulations={simulations} " + " ".join(keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_100_000)
    parser.add_argument("--simulations", type=int, default=1000)
    parser.add_argument("--p", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic-users", type=int, default=20_000)
    parser.add_argument(
        "--post-reach",
        type=float,
        default=0.2,
        help="share of a KOL's followers who see one campaign post (synthetic world)",
    )
    parser.add_argument(
        "--world-seeds",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[7, 8, 9],
        help="synthetic worlds to plan on (comma-separated generator seeds)",
    )
    parser.add_argument(
        "--runners",
        action="store_true",
        help="only compare where the work runs: threads, a process pool, a Dask cluster",
    )
    parser.add_argument(
        "--runner-users",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[10_000, 100_000],
        help="graph sizes of --runners (comma-separated user counts)",
    )
    args = parser.parse_args()
    if args.runners:
        sizes = {
            users: runner_overhead(users, args.jobs, args.simulations, args.repeats)
            for users in args.runner_users
        }
        _print_runners(sizes, args.jobs, args.simulations)
        return

    t0 = time.perf_counter()
    topo = chung_lu(args.nodes, args.edges, seed=2015)
    print(
        f"graph: {topo.num_nodes} nodes, {topo.num_edges} edges "
        f"(max out-degree {topo.out_degree.max()}, built in {time.perf_counter() - t0:.1f} s)"
    )
    print(
        f"threads: ours {args.jobs} (and 1 for the 1-thread ratio), cynetdiff 1; best of "
        f"{args.repeats} timings per side"
    )
    seeds = top_followers(topo, 10)
    speedup: dict[str, float] = {}
    speedup_1: dict[str, float] = {}
    z_max = 0.0
    for name, graph in (("uniform", uniform(topo, args.p)), ("wc", weighted_cascade(topo))):
        runs: dict[str, list[tuple[float, float, float]]] = {"cyn": [], "ours": [], "one": []}
        for _ in range(args.repeats):
            runs["cyn"].append(cynetdiff_spread(graph, seeds, args.simulations, 1))
            runs["ours"].append(ours_spread(graph, seeds, args.simulations, 1, args.jobs))
            runs["one"].append(ours_spread(graph, seeds, args.simulations, 1, 1))
        theirs, mine, single = (min(r, key=lambda x: x[2]) for r in runs.values())
        attributed = ours_spread(graph, seeds, args.simulations, 1, args.jobs, attribution=True)
        z = abs(mine[0] - theirs[0]) / np.hypot(mine[1], theirs[1])
        z_max = max(z_max, float(z))
        speedup[name] = theirs[2] / mine[2]
        speedup_1[name] = theirs[2] / single[2]
        times = {key: " ".join(f"{r[2]:.3f}" for r in rs) for key, rs in runs.items()}
        print(
            f"IC {name:7s}: ours {single[2]:.3f} s with 1 thread (speedup {speedup_1[name]:.1f}x, "
            f"1 thread each), {mine[0]:.1f} +- {mine[1]:.1f} in {mine[2]:.3f} s with {args.jobs} "
            f"threads (speedup {speedup[name]:.1f}x), with per-seed attribution "
            f"{attributed[2]:.3f} s | cynetdiff {theirs[0]:.1f} +- {theirs[1]:.1f} in "
            f"{theirs[2]:.3f} s (1 thread) | z = {z:.2f}"
        )
        print(
            f"   all timings (s): cynetdiff {times['cyn']} | ours {args.jobs} threads "
            f"{times['ours']} | ours 1 thread {times['one']}"
        )

    graph = uniform(topo, args.p)
    t0 = time.perf_counter()
    plan = plan_campaign(graph, k=50, simulations=args.simulations, seed=3, jobs=args.jobs)
    plan_s = time.perf_counter() - t0
    print(
        f"plan k=50 (IMM, eps=0.5, {plan.rr_sets} RR sets): {plan.estimate.reach.mean:.1f} +- "
        f"{plan.estimate.reach.std_error:.1f} vs top-out-degree "
        f"{plan.baseline_estimate.reach.mean:.1f} +- {plan.baseline_estimate.reach.std_error:.1f}"
        f" (ratio {plan.ratio:.3f}) in {plan_s:.2f} s"
    )
    worlds = {
        seed: synthetic_plan(
            args.synthetic_users, 10, args.simulations, args.jobs, args.post_reach, seed
        )
        for seed in args.world_seeds
    }
    for seed, synthetic in worlds.items():
        _print_synthetic(synthetic, seed, args.post_reach)
    reach = [w["reach"]["ratio"] for w in worlds.values()]
    adoption = [w["adoption"]["ratio"] for w in worlds.values()]
    qualified = [r["ratio"] for w in worlds.values() for r in w["qualified"].values()]
    print(
        f"synthetic worlds {args.world_seeds}: plan / top-followers, qualified reach over "
        f"{len(qualified)} (world, promoted category) pairs: median {np.median(qualified):.3f}, "
        f"mean {np.mean(qualified):.3f}, min {np.min(qualified):.3f}; plain reach "
        f"{' '.join(f'{r:.3f}' for r in reach)}; adoption {' '.join(f'{r:.3f}' for r in adoption)}"
    )
    print(
        f"RESULT speedup_uniform={speedup_1['uniform']:.2f} speedup_wc={speedup_1['wc']:.2f} "
        f"speedup_{args.jobs}t_uniform={speedup['uniform']:.2f} "
        f"speedup_{args.jobs}t_wc={speedup['wc']:.2f} threads={args.jobs} "
        f"agree_z_max={z_max:.2f} plan_k50_s={plan_s:.2f} plan_vs_topdegree={plan.ratio:.3f} "
        f"synthetic_qualified_ratio_median={np.median(qualified):.3f} "
        f"synthetic_qualified_ratio_min={np.min(qualified):.3f} "
        f"synthetic_reach_ratio_mean={np.mean(reach):.3f} "
        f"synthetic_reach_ratio_min={np.min(reach):.3f} "
        f"synthetic_adoption_ratio_mean={np.mean(adoption):.3f}"
    )


if __name__ == "__main__":
    main()
