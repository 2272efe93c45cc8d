"""Reach backtest benchmark: the calibrated model and the baselines on real and synthetic logs.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reach_backtest.py [--data ../shared/data]``

1. **Last.fm tag adoptions** (hetrec2011): read with :func:`graph.readers.read_lastfm`,
   validated and loaded into a temporary SQLite store, exported to a snapshot (as a user
   would), then :func:`graph.reach.backtest.run_backtest` with kind ``tag`` (a user's first tag
   of an artist), holdout 0.3 of the newest items, the first adopter as seed and a
   ``--horizon-days`` horizon (default 180: the release dates tags by month only, so shorter
   horizons see almost nothing beyond the month of the first tag). Targets (issue 18):
   Spearman >= 0.4, MAE <= 0.8 x the constant median's, 90% coverage in [0.85, 0.95], and
   the calibrated model better than weighted cascade on every figure; each is printed as met
   or missed.
2. **Synthetic world** (:mod:`graph.synthetic`, ``--users`` users and ``--items`` items,
   purchases; the world's ground-truth cascade is IC with known per-edge probabilities):
   backtest with a 7-day horizon. ``synthetic_ratio`` = the calibrated model's mean predicted
   adopters / mean observed on held-out items; ``synthetic_p_ratio`` = mean learned edge
   probability / mean ground-truth probability (the learned probabilities alone; the level
   calibration absorbs their scale).

The last line is ``RESULT key=value ...`` (calibrated figures unless named ``*_wc`` /
``*_const``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from graph.export import export_snapshot
from graph.load import load_tables
from graph.reach.backtest import BacktestReport, run_backtest
from graph.reach.influence_graph import InfluenceGraph
from graph.readers import read_lastfm
from graph.snapshot import Snapshot
from graph.sqlite_store import SQLiteStore
from graph.synthetic import WorldConfig, activation_probability, generate_world

DAY = 86_400


def lastfm_snapshot(hetrec: Path, work: Path) -> Snapshot:
    """Last.fm through the ordinary path: reader -> validation and SQLite load -> export."""
    store = SQLiteStore(work / "lastfm.sqlite3")
    try:
        load_tables(store, read_lastfm(hetrec), work / "report")
        return export_snapshot(store, work / "snapshot")
    finally:
        store.close()


def progress(stage: str, done: int, total: int) -> None:
    if done == total:
        print(f"  {stage}: {total}/{total} done", flush=True)


def show(name: str, report: BacktestReport) -> None:
    print(f"\n{name}: {report.counts}, calibrated {report.calibrated}")
    print(f"{'model':<20} {'spearman':>9} {'95% CI':>16} {'mae':>8} {'mdale':>6} ", end="")
    print(f"{'cov50':>6} {'cov90':>6} {'mean pred':>10} {'mean obs':>9}")
    for s in report.scores:
        rho = "-" if s.spearman is None else f"{s.spearman:.3f}"
        ci = "-" if s.spearman_ci is None else f"[{s.spearman_ci[0]:.3f}, {s.spearman_ci[1]:.3f}]"
        print(
            f"{s.model:<20} {rho:>9} {ci:>16} {s.mae:>8.3f} {s.median_abs_log_error:>6.3f} "
            f"{s.coverage50:>6.3f} {s.coverage90:>6.3f} {s.mean_predicted:>10.3f} "
            f"{s.mean_observed:>9.3f}"
        )
    for warning in report.warnings:
        print(f"warning: {warning}")


def targets(report: BacktestReport) -> None:
    cal, wc = report.score("calibrated"), report.score("weighted_cascade")
    const = report.score("constant_median")
    rho, rho_wc = cal.spearman or 0.0, wc.spearman or 0.0
    checks = {
        "spearman >= 0.4": rho >= 0.4,
        "mae <= 0.8 x constant median": cal.mae <= 0.8 * const.mae,
        "coverage90 in [0.85, 0.95]": 0.85 <= cal.coverage90 <= 0.95,
        "spearman > weighted cascade": rho > rho_wc,
        "mae < weighted cascade": cal.mae < wc.mae,
        "median |log error| < weighted cascade": cal.median_abs_log_error < wc.median_abs_log_error,
        "coverage90 closer to 0.9 than weighted cascade": abs(cal.coverage90 - 0.9)
        < abs(wc.coverage90 - 0.9),
        "mean predicted closer to observed than weighted cascade": abs(
            np.log(cal.mean_predicted / cal.mean_observed)
        )
        < abs(np.log(wc.mean_predicted / wc.mean_observed)),
    }
    for label, ok in checks.items():
        print(f"target {label}: {'met' if ok else 'MISSED'}")


def synthetic(users: int, items: int, seed: int, simulations: int) -> tuple[float, float]:
    config = WorldConfig(num_users=users, num_items=items, seed=seed)
    snapshot = generate_world(config).to_snapshot()
    report, model = run_backtest(
        snapshot, horizon_s=7 * DAY, simulations=simulations, seed=seed, progress=progress
    )
    show(f"synthetic world ({users} users, {items} items, seed {seed})", report)
    graph = InfluenceGraph.from_snapshot(snapshot)
    attention = np.bincount(snapshot.social_src, minlength=snapshot.num_users)
    truth = activation_probability(
        attention[graph.indices], config.social_influence, config.social_conversion
    )
    learned = model.probabilities(graph)
    cal = report.score("calibrated")
    return cal.mean_predicted / cal.mean_observed, float(learned.mean() / truth.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--horizon-days", type=float, default=180.0)
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        print("loading Last.fm (reader -> SQLite -> snapshot)...", flush=True)
        snapshot = lastfm_snapshot(args.data / "lastfm" / "hetrec2011", Path(tmp))
    report, _ = run_backtest(
        snapshot,
        kinds=["tag"],
        horizon_s=round(args.horizon_days * DAY),
        simulations=args.simulations,
        seed=args.seed,
        progress=progress,
    )
    show(f"Last.fm tag adoptions, {args.horizon_days:g}-day horizon", report)
    targets(report)
    ratio, p_ratio = synthetic(args.users, args.items, args.seed, args.simulations)
    print(f"\nseconds {time.perf_counter() - started:.1f}")
    cal, wc = report.score("calibrated"), report.score("weighted_cascade")
    const = report.score("constant_median")
    print(
        f"RESULT spearman={cal.spearman or 0:.4f} spearman_wc={wc.spearman or 0:.4f} "
        f"mae={cal.mae:.4f} mae_const={const.mae:.4f} mae_wc={wc.mae:.4f} "
        f"coverage90={cal.coverage90:.4f} coverage50={cal.coverage50:.4f} "
        f"synthetic_ratio={ratio:.4f} synthetic_p_ratio={p_ratio:.4f} "
        f"mean_pred={cal.mean_predicted:.4f} mean_obs={cal.mean_observed:.4f} "
        f"mean_pred_wc={wc.mean_predicted:.4f} held_out={report.counts['held_out']}"
    )


if __name__ == "__main__":
    main()
