"""LightGCN, the social model and popularity with the CLI defaults on every social data set.

Every set in ``--data`` (default ../shared/data) with a RecBole ``<name>.inter`` and
``<name>.net`` goes the ordinary way: :func:`graph.readers.read_recbole` -> validation and
load into a temporary SQLite store -> :func:`graph.export.export_snapshot`. Each model is then
trained with :func:`gnn.train.train` and ``TrainConfig.for_model(model, seed=...)``, what
``socialrec train`` runs (same defaults, same early stopping, the popularity baseline scored
by the same run on the same split). Test metrics are those of the best-validation epoch.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/datasets.py [--sets lastfm yelp1]
[--seeds 2020 2021 2022]``. Prints one line per evaluation and per run, then, last::

    RESULT <set>_lightgcn_ndcg@10=... <set>_social_ndcg@10=... <set>_popular_ndcg@10=...
    min_social_over_lightgcn=... min_model_over_popular=...

(test NDCG@10, means over the seeds; the minima over the sets), followed by the validation
NDCG@10 of each model (``<set>_<model>_valid_ndcg@10``, ``mean_<model>_valid_ndcg@10`` over
the sets: what defaults are chosen by) and the epochs run.

Screening: ``--max-interactions N`` keeps a snowball sample of users with about N
interactions (breadth-first over the trust links from random starts, so that friends stay
together; their interactions and the links among them), ``--epochs`` caps the epochs and
``--set MODEL.FIELD=VALUE`` overrides a default (then the RESULT describes that candidate, not
the defaults). ``--quick`` (CI smoke) is one seed, 3 epochs, no warm-up, a 3,000-interaction
sample of the first set.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from gnn.train import EpochRecord, TrainConfig, TrainResult, train
from graph.export import export_snapshot
from graph.load import load_tables
from graph.readers import read_recbole
from graph.snapshot import Snapshot
from graph.sqlite_store import SQLiteStore

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = ("lightgcn", "social")
METRIC = "ndcg@10"


def find_sets(data_dir: Path) -> list[str]:
    """Names of the sets in ``data_dir`` that have ``<name>/<name>.inter`` and ``.net``."""
    return sorted(
        d.name
        for d in data_dir.iterdir()
        if (d / f"{d.name}.inter").is_file() and (d / f"{d.name}.net").is_file()
    )


def _read_atomic(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return rows[0], rows[1:]


def _write_atomic(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows([header, *rows])


def snowball_users(
    inter: list[list[str]], net: list[list[str]], max_interactions: int, seed: int
) -> set[str]:
    """Users breadth-first over the (undirected) trust links from random starts until their
    interactions reach ``max_interactions``, so that a sample keeps the links between friends."""
    per_user: dict[str, int] = {}
    for row in inter:
        per_user[row[0]] = per_user.get(row[0], 0) + 1
    if max_interactions >= len(inter):
        return set(per_user)
    neighbours: dict[str, list[str]] = {}
    for row in net:
        neighbours.setdefault(row[0], []).append(row[1])
        neighbours.setdefault(row[1], []).append(row[0])
    users = sorted(per_user)
    kept: set[str] = set()
    total = 0
    for start in np.random.default_rng(seed).permutation(len(users)):
        queue = deque([users[start]])
        while queue and total < max_interactions:
            user = queue.popleft()
            if user in kept or user not in per_user:
                continue
            kept.add(user)
            total += per_user[user]
            queue.extend(neighbours.get(user, ()))
        if total >= max_interactions:
            break
    return kept


def set_snapshot(data_dir: Path, name: str, work: Path, max_interactions: int | None) -> Snapshot:
    """Load set ``name`` (all of it, or a :func:`snowball_users` sample of about
    ``max_interactions`` interactions) into a temporary store; export a snapshot under ``work``."""
    inter_path = data_dir / name / f"{name}.inter"
    net_path = data_dir / name / f"{name}.net"
    if max_interactions is not None:
        inter_header, inter = _read_atomic(inter_path)
        net_header, net = _read_atomic(net_path)
        kept = snowball_users(inter, net, max_interactions, seed=0)
        inter_path, net_path = work / f"{name}.inter", work / f"{name}.net"
        _write_atomic(inter_path, inter_header, [r for r in inter if r[0] in kept])
        _write_atomic(net_path, net_header, [r for r in net if r[0] in kept and r[1] in kept])
    store = SQLiteStore(work / f"{name}.sqlite3")
    try:
        load_tables(store, read_recbole(inter_path, net_path), work / "report")
        return export_snapshot(store, work / "snapshot")
    finally:
        store.close()


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["social.ssl_weight=0", ...]`` -> ``{"social": {"ssl_weight": 0.0}}`` (values typed
    like the field's default).

    Raises:
        ValueError: naming the item that is not ``MODEL.FIELD=VALUE`` of a known model/field.
    """
    out: dict[str, dict[str, Any]] = {model: {} for model in MODELS}
    defaults = TrainConfig()
    for item in items:
        key, sep, value = item.partition("=")
        model, _, name = key.partition(".")
        if not sep or model not in MODELS or not hasattr(defaults, name):
            raise ValueError(f"--set {item!r}: expected MODEL.FIELD=VALUE, MODEL in {MODELS}")
        kind = type(getattr(defaults, name))
        out[model][name] = kind(value) if kind in (int, float, str) else value
    return out


def run_model(
    snapshot: Snapshot, config: TrainConfig, label: str, every: int = 10
) -> tuple[TrainResult, float]:
    """Train ``config``; print a line every ``every`` evaluations; return result and seconds."""
    started = time.perf_counter()

    def show(record: EpochRecord) -> None:
        if record.valid is not None and (record.epoch % every == 0 or record.epoch == 1):
            print(
                f"  {label} epoch {record.epoch} loss {record.loss:.4f} valid {METRIC} "
                f"{record.valid[METRIC]:.4f} {time.perf_counter() - started:.0f}s",
                flush=True,
            )

    result = train(snapshot, config, show)
    return result, time.perf_counter() - started


def run_set(
    snapshot: Snapshot, name: str, seeds: list[int], caps: dict[str, Any], sets: dict[str, Any]
) -> dict[str, list[float]]:
    """Every model on every seed of one set; returns lists of per-seed figures by key."""
    rows: dict[str, list[float]] = {}
    for seed in seeds:
        for model in MODELS:
            config = TrainConfig.for_model(model, seed=seed, **{**caps, **sets[model]})
            result, wall = run_model(snapshot, config, f"{name} seed {seed} {model}")
            figures = {
                f"{model}_{METRIC}": result.test_metrics[METRIC],
                f"{model}_valid_{METRIC}": result.valid_metrics[METRIC],
                f"{model}_epochs": float(result.epochs_run),
                f"popular_{METRIC}": result.popular_test[METRIC],
                f"popular_valid_{METRIC}": result.popular_valid[METRIC],
            }
            for key, value in figures.items():
                if model == "social" and key.startswith("popular"):
                    continue  # same split, same baseline: counted once per seed
                rows.setdefault(key, []).append(value)
            print(
                f"{name} seed {seed} {model}: best epoch {result.best_epoch}/{result.epochs_run} "
                f"valid {METRIC} {result.valid_metrics[METRIC]:.4f} (popular "
                f"{result.popular_valid[METRIC]:.4f}) test {METRIC} "
                f"{result.test_metrics[METRIC]:.4f} recall@10 "
                f"{result.test_metrics['recall@10']:.4f} (popular "
                f"{result.popular_test[METRIC]:.4f}) {result.sec_per_epoch:.2f} s/epoch "
                f"{wall:.0f}s",
                flush=True,
            )
    return rows


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def result_line(means: dict[str, dict[str, float]]) -> str:
    """The ``RESULT`` line from per-set means (keys as in :func:`run_set`)."""
    keys: dict[str, float] = {}
    for name, row in means.items():
        for who in (*MODELS, "popular"):
            keys[f"{name}_{who}_{METRIC}"] = row[f"{who}_{METRIC}"]
    keys["min_social_over_lightgcn"] = min(
        _ratio(row[f"social_{METRIC}"], row[f"lightgcn_{METRIC}"]) for row in means.values()
    )
    keys["min_model_over_popular"] = min(
        _ratio(row[f"{model}_{METRIC}"], row[f"popular_{METRIC}"])
        for row in means.values()
        for model in MODELS
    )
    for name, row in means.items():
        for who in (*MODELS, "popular"):
            keys[f"{name}_{who}_valid_{METRIC}"] = row[f"{who}_valid_{METRIC}"]
        for model in MODELS:
            keys[f"{name}_{model}_epochs"] = row[f"{model}_epochs"]
    for model in MODELS:
        keys[f"mean_{model}_valid_{METRIC}"] = statistics.fmean(
            row[f"{model}_valid_{METRIC}"] for row in means.values()
        )
    return "RESULT " + " ".join(f"{k}={v:.4f}" for k, v in keys.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data directory")
    parser.add_argument("--sets", nargs="+", help="set names [default: every set with a .net]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--quick", action="store_true", help="CI smoke: tiny and fast")
    parser.add_argument(
        "--max-interactions", type=int, help="snowball sample of ~N interactions per set"
    )
    parser.add_argument("--epochs", type=int, help="cap on the epochs [default: the default]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="MODEL.FIELD=VALUE"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a directory; see ../shared/data/README.md")
    available = find_sets(args.data)
    sets = args.sets or available
    unknown = sorted(set(sets) - set(available))
    if unknown:
        parser.error(f"--sets {unknown}: no <name>/<name>.inter and .net in {args.data}")
    caps: dict[str, Any] = {"num_threads": args.threads}
    seeds, sample = args.seeds, args.max_interactions
    if args.quick:
        sets, seeds, sample = sets[:1], seeds[:1], sample or 3000
        caps.update(epochs=3, warmup_epochs=0)
    if args.epochs is not None:
        caps["epochs"] = args.epochs
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    means: dict[str, dict[str, float]] = {}
    for name in sets:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            snapshot = set_snapshot(args.data, name, Path(tmp), sample)
            print(
                f"{name}: {snapshot.num_users} users, {snapshot.num_items} items, "
                f"{len(snapshot.inter_user)} interactions, {len(snapshot.social_src)} links "
                f"(loaded in {time.perf_counter() - started:.0f}s)",
                flush=True,
            )
            rows = run_set(snapshot, name, seeds, caps, overrides)
        means[name] = {key: statistics.fmean(values) for key, values in rows.items()}
    print(result_line(means))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
