"""LightGCN on LastFM under the RecBole protocol, compared with the published table.

The RecBole atomic files (``lastfm.inter`` + ``lastfm.net``, default ../shared/data/lastfm)
go through the ordinary path: :func:`graph.readers.read_recbole` -> validation and load into
a temporary SQLite store -> :func:`graph.export.export_snapshot`. Training then follows the
RecBole-GNN protocol: per-user random 80/10/10 split, embedding size 64, 3 layers, BPR with
one uniform negative, batch 4096, early stopping on validation NDCG@10, test metrics of the
best-validation model (full ranking, train and valid items masked).

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lastfm.py [--seeds 2020 2021 ...]``.
The last line is ``RESULT recall@10=... ndcg@10=... precision@10=... hit@10=... mrr@10=...
sec_per_epoch=... epochs=...`` (means over the seeds; ``sec_per_epoch`` is training time only,
evaluation excluded). Published LightGCN (RecBole-GNN, seed 2020): Recall@10 0.2064,
NDCG@10 0.1972, Precision@10 0.1009, Hit@10 0.6322, MRR@10 0.3559.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.export import export_snapshot
from graph.load import load_tables
from graph.readers import read_recbole
from graph.snapshot import Snapshot
from graph.sqlite_store import SQLiteStore

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lastfm"
PUBLISHED = {
    "recall@10": 0.2064,
    "ndcg@10": 0.1972,
    "precision@10": 0.1009,
    "hit@10": 0.6322,
    "mrr@10": 0.3559,
}
REPORTED = ("recall@10", "ndcg@10", "precision@10", "hit@10", "mrr@10")


def lastfm_snapshot(data_dir: Path, work: Path) -> Snapshot:
    """Load the RecBole LastFM files into a temporary store and export a snapshot.

    Raises:
        FileNotFoundError: if ``lastfm.inter`` is missing from ``data_dir``.
    """
    inter = data_dir / "lastfm.inter"
    net = data_dir / "lastfm.net"
    if not inter.is_file():
        raise FileNotFoundError(
            f"{inter} not found: pass --data DIR with lastfm.inter (and lastfm.net), see "
            "../shared/data/README.md"
        )
    store = SQLiteStore(work / "lastfm.sqlite3")
    try:
        load_tables(store, read_recbole(inter, net if net.is_file() else None), work / "report")
        return export_snapshot(store, work / "snapshot")
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LastFM directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2020], help="one run per seed")
    parser.add_argument("--epochs", type=int, default=1000, help="max epochs (default 1000)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: config)")
    parser.add_argument("--reg-weight", type=float, default=None)
    parser.add_argument(
        "--patience", type=int, default=50, help="evaluations without gain (protocol: 50)"
    )
    parser.add_argument("--eval-every", type=int, default=1, help="epochs between evaluations")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--verbose", action="store_true", help="print every evaluation")
    args = parser.parse_args(argv)

    import torch

    from gnn.train import EpochRecord, TrainConfig, train
    from socialrec.seeding import seed_everything

    torch.set_num_threads(args.threads)
    try:
        with tempfile.TemporaryDirectory(prefix="socialrec-lastfm-") as tmp:
            started = time.perf_counter()
            snapshot = lastfm_snapshot(args.data, Path(tmp))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = snapshot.meta["counts"]
    print(
        f"snapshot: {counts['users']} users, {counts['items']} items, "
        f"{counts['interactions']} interactions, {counts['social_edges']} social edges "
        f"({time.perf_counter() - started:.1f}s)"
    )

    overrides = {
        "epochs": args.epochs,
        "lr": args.lr,
        "reg_weight": args.reg_weight,
        "patience": args.patience,
        "eval_every": args.eval_every,
    }
    runs = []
    for seed in args.seeds:
        seed_everything(seed)
        config = TrainConfig(
            seed=seed,
            num_threads=args.threads,
            **{k: v for k, v in overrides.items() if v is not None},
        )

        def show(record: EpochRecord) -> None:
            if args.verbose and record.valid is not None:
                print(
                    f"  epoch {record.epoch:4d} loss {record.loss:.4f} "
                    f"train {record.train_seconds:.3f}s valid ndcg@10 "
                    f"{record.valid['ndcg@10']:.4f} recall@10 {record.valid['recall@10']:.4f}",
                    flush=True,
                )

        started = time.perf_counter()
        result = train(snapshot, config, show)
        wall = time.perf_counter() - started
        test = result.test_metrics
        print(
            f"seed {seed}: best epoch {result.best_epoch}/{result.epochs_run}, "
            f"valid ndcg@10 {result.valid_metrics['ndcg@10']:.4f}, "
            + " ".join(f"{m} {test[m]:.4f}" for m in REPORTED)
            + f", {result.sec_per_epoch:.3f} s/epoch, {wall:.0f}s total",
            flush=True,
        )
        runs.append(result)

    mean = {m: statistics.fmean(r.test_metrics[m] for r in runs) for m in REPORTED}
    if len(runs) > 1:
        spread = {m: statistics.stdev(r.test_metrics[m] for r in runs) for m in REPORTED}
        print("std over seeds: " + " ".join(f"{m}={spread[m]:.4f}" for m in REPORTED))
    print("published LightGCN: " + " ".join(f"{m}={v:.4f}" for m, v in PUBLISHED.items()))
    sec = statistics.fmean(r.sec_per_epoch for r in runs)
    epochs = statistics.fmean(r.epochs_run for r in runs)
    print(
        "RESULT "
        + " ".join(f"{m}={mean[m]:.4f}" for m in REPORTED)
        + f" sec_per_epoch={sec:.3f} epochs={epochs:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
