"""Experiments: does the A/B machinery find real differences and only those, and what does it
cost the serving path?

1. **A/A** (:mod:`serving.experiment_replay`): a synthetic world (``--users``, ``--items``);
   ``--replays`` replays serve every user popularity's top ``--k`` in both arms (a new salt
   and new response draws each time) and test the CTR at ``--alpha`` with the report's test
   (delta method over users). ``aa_false_positive_rate`` should be about alpha (target
   0.02-0.08). Baseline, same replays: a two-proportion z-test over impressions, which treats
   a user's impressions as independent.
2. **Known difference**: popular (a) vs LightGCN (b) trained on the world; the ground truth
   gives the true CTR of each. ``detected_sign`` is 1 when the first replay's test is
   significant with the truth's sign; ``detection_rate`` is over all replays.
3. **Serving overhead**: the real API (``socialrec serve``, one uvicorn worker, one torch
   thread) on a ``socialrec demo`` work directory, two servers side by side: *off* (no
   experiment, serve log off) and *on* (an active two-variant experiment whose treatment
   changes the social boost, serve log on). ``--blocks`` pairs of closed-loop blocks of
   ``--block-s`` s (``--connections`` client threads), alternating off and on in ABBA order
   so that other load on the machine hits both alike. The server (one worker, one thread) is
   CPU-bound at saturation, so its throughput is ``1 / CPU time per request``:
   ``serving_overhead = 1 - cpu_ms_off / cpu_ms_on`` is the fractional loss of its maximum
   throughput (target <= 0.10), from ``/proc/<pid>/stat`` over all blocks.
   ``closed_loop_overhead = 1 - rps_on / rps_off`` is the achieved closed-loop rate; with a
   Python client (wrk, which ``benchmarks/serving_load.py`` uses, may be missing) on a 2-core
   machine the client saturates before the server, so that rate mostly measures the client
   and the machine's other load.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/experiments.py [--replays 100]

The last line is ``RESULT aa_false_positive_rate=... detected_sign=... serving_overhead=...``
with the baseline and the figures behind them.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Final
from urllib.parse import quote

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from benchmarks.serving_load import _clean_env, _cli, api_server, cpu_seconds
from graph.snapshot import read_snapshot
from graph.synthetic import WorldConfig, generate_world
from serving import experiment_stats as st
from serving.experiment_replay import (
    ReplayWorld,
    ab_replay,
    ranking,
    replay,
    two_arm,
)
from serving.experiments import EXPERIMENTS_FILE, Experiment, ExperimentRegistry, Variant

REPO: Final[Path] = Path(__file__).resolve().parents[1]


def naive_impression_test(view: ReplayWorld, a: np.ndarray, seed: int, alpha: float) -> bool:
    """The baseline: an A/A replay tested by a two-proportion z-test over impressions."""
    out = replay(view, two_arm(f"replay-{seed}"), {"a": a, "b": a}, seed=seed)
    arms = [out.variant == v for v in ("a", "b")]
    result = st.two_proportion(
        int(out.clicks[arms[0]].sum()),
        int(out.impressions[arms[0]].sum()),
        int(out.clicks[arms[1]].sum()),
        int(out.impressions[arms[1]].sum()),
    )
    return result.p_value < alpha


def replay_checks(args: argparse.Namespace) -> dict[str, float]:
    """A/A false-positive rates (report's test and the naive baseline) and the known
    difference, printed as they come."""
    config = WorldConfig(
        num_users=args.users,
        num_items=args.items,
        num_communities=8,
        num_categories=12,
        interactions_per_user=15,
        seed=args.seed,
    )
    started = time.perf_counter()
    world = generate_world(config)
    view = ReplayWorld.from_world(world)
    popular = ranking("popular", world, view, k=args.k)
    lightgcn = ranking("lightgcn", world, view, k=args.k, epochs=args.epochs, seed=args.seed)
    print(
        f"world: {args.users} users, {args.items} items; true CTR popular "
        f"{view.expected_ctr(popular):.4f}, lightgcn {view.expected_ctr(lightgcn):.4f} "
        f"({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    seeds = range(args.seed * 1_000_003, args.seed * 1_000_003 + args.replays)
    started = time.perf_counter()
    aa = [ab_replay(view, popular, popular, seed=s, alpha=args.alpha).significant for s in seeds]
    naive = [naive_impression_test(view, popular, s, args.alpha) for s in seeds]
    ab = [ab_replay(view, popular, lightgcn, seed=s, alpha=args.alpha) for s in seeds]
    first = ab[0]
    print(
        f"A/A over {args.replays} replays at alpha {args.alpha}: delta method "
        f"{np.mean(aa):.3f}, naive impression z-test {np.mean(naive):.3f}; A/B popular vs "
        f"lightgcn: true {first.expected_difference:+.4f}, observed "
        f"{first.observed.difference:+.4f} (p={first.observed.p_value:.2g}), found with the "
        f"true sign in {np.mean([r.right_sign for r in ab]):.3f} "
        f"({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    return {
        "aa_false_positive_rate": float(np.mean(aa)),
        "aa_naive_impression_z": float(np.mean(naive)),
        "detected_sign": float(first.right_sign),
        "detection_rate": float(np.mean([r.right_sign for r in ab])),
    }


def served_model(args: argparse.Namespace) -> Path:
    """A ``socialrec demo --no-serve`` work directory (built once, then reused)."""
    work: Path = args.work / f"demo-{args.serve_users}"
    if (work / "snapshot" / "meta.json").is_file() and (work / "model.pt").is_file():
        print(f"model: reusing {work}", flush=True)
        return work
    work.mkdir(parents=True, exist_ok=True)
    env = _clean_env(SOCIALREC_WORK_DIR=str(work), OMP_NUM_THREADS="1")
    users, items = str(args.serve_users), str(args.serve_users * 2 // 5)
    _cli(["demo", "--users", users, "--items", items, "--no-serve"], env, work / "build.log")
    return work


def closed_loop(base: str, paths: list[str], seconds: float, connections: int) -> int:
    """Responses to GET ``paths`` (cycled) from ``connections`` threads in ``seconds``."""
    done = [0] * connections
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            i = n
            while time.monotonic() < stop:
                client.get(paths[i % len(paths)]).raise_for_status()
                done[n] += 1
                i += connections

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def serving_overhead(args: argparse.Namespace) -> dict[str, float]:
    """Closed-loop recommendations/s and server CPU ms per request, *off* vs *on*."""
    work = served_model(args)
    snapshot = read_snapshot(work / "snapshot")
    rng = np.random.default_rng(args.seed)
    users = [snapshot.user_ids[int(u)] for u in np.unique(snapshot.inter_user)]
    paths = [
        f"/api/v1/users/{quote(users[int(i)], safe='')}/recommendations?k=10"
        for i in rng.choice(len(users), size=min(2000, len(users)), replace=False)
    ]
    off_dir, on_dir = work / "bench-off", work / "bench-on"
    shared = {
        "SOCIALREC_SQLITE_PATH": str(work / "graph.sqlite3"),
        "SOCIALREC_SNAPSHOT_DIR": str(work / "snapshot"),
        "SOCIALREC_CHECKPOINT_PATH": str(work / "model.pt"),
        "SOCIALREC_REACH_DIR": str(work / "reach"),
    }
    for d in (off_dir, on_dir):
        d.mkdir(exist_ok=True)
        (d / EXPERIMENTS_FILE).unlink(missing_ok=True)
    ExperimentRegistry(on_dir / EXPERIMENTS_FILE).create(
        Experiment(
            "bench",
            (Variant("control", 0.5), Variant("boost", 0.5, social_boost=0.3)),
            salt=f"bench-{time.time_ns()}",
        )
    )
    key = secrets.token_hex(16)
    requests = {"off": 0, "on": 0}
    seconds = {"off": 0.0, "on": 0.0}
    cpu = {"off": 0.0, "on": 0.0}
    with ExitStack() as stack:
        servers = {
            "off": stack.enter_context(
                api_server(
                    off_dir,
                    key,
                    off_dir / "server.log",
                    env=shared | {"SOCIALREC_SERVE_LOG": "false"},
                )
            ),
            "on": stack.enter_context(api_server(on_dir, key, on_dir / "server.log", env=shared)),
        }
        first = httpx.get(f"{servers['on'][0]}{paths[0]}", timeout=30).json()
        if first.get("variant") not in ("control", "boost"):
            raise SystemExit(f"the 'on' server serves no experiment: {first}")
        for base, _ in servers.values():  # warm-up (candidate stages), not measured
            closed_loop(base, paths, args.warmup, args.connections)
        for pair in range(args.blocks):  # ABBA order: a slow drift hits both alike
            for name in ("off", "on") if pair % 2 == 0 else ("on", "off"):
                base, pid = servers[name]
                before, started = cpu_seconds(pid), time.perf_counter()
                requests[name] += closed_loop(base, paths, args.block_s, args.connections)
                seconds[name] += time.perf_counter() - started
                cpu[name] += cpu_seconds(pid) - before
            if (pair + 1) % 10 == 0:
                print(
                    f"{pair + 1} block pairs: off {requests['off'] / seconds['off']:.1f} req/s, "
                    f"on {requests['on'] / seconds['on']:.1f} req/s",
                    flush=True,
                )
    rps = {k: requests[k] / seconds[k] for k in requests}
    cpu_ms = {k: 1000 * cpu[k] / max(requests[k], 1) for k in requests}
    print(
        f"closed loop ({args.connections} client threads, {args.blocks} x {args.block_s:g} s "
        f"each): off {rps['off']:.1f} req/s, {cpu_ms['off']:.3f} ms server CPU/request; "
        f"on {rps['on']:.1f} req/s, {cpu_ms['on']:.3f} ms",
        flush=True,
    )
    return {
        "serving_overhead": 1 - cpu_ms["off"] / cpu_ms["on"],
        "closed_loop_overhead": 1 - rps["on"] / rps["off"],
        "rps_off": rps["off"],
        "rps_on": rps["on"],
        "cpu_ms_off": cpu_ms["off"],
        "cpu_ms_on": cpu_ms["on"],
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=2000, help="Replay world users.")
    parser.add_argument("--items", type=int, default=400, help="Replay world items.")
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--k", type=int, default=10, help="Items served per user.")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=40, help="LightGCN epochs (at most).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--serve-users", type=int, default=5000, help="Served demo world.")
    parser.add_argument("--blocks", type=int, default=40, help="Off/on block pairs.")
    parser.add_argument("--block-s", type=float, default=1.5, help="Seconds per block.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Unmeasured seconds each.")
    parser.add_argument("--connections", type=int, default=4, help="Client threads.")
    parser.add_argument("--skip-serving", action="store_true", help="Replay checks only.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    figures = replay_checks(args)
    if not args.skip_serving:
        figures |= serving_overhead(args)
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    print(
        "RESULT "
        + " ".join(
            f"{k}={int(v)}" if k == "detected_sign" else f"{k}={v:.3f}" for k, v in figures.items()
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
