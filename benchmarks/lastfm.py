"""LightGCN and SocialLightGCN on LastFM under the RecBole protocol, against the published table.

The RecBole atomic files (``lastfm.inter`` + ``lastfm.net``, default ../shared/data/lastfm)
go through the ordinary path: :func:`graph.readers.read_recbole` -> validation and load into
a temporary SQLite store -> :func:`graph.export.export_snapshot`. Training then follows the
RecBole-GNN protocol: per-user random 80/10/10 split, embedding size 64, 3 layers, BPR with
one uniform negative, batch 4096, early stopping on validation NDCG@10, test metrics of the
best-validation model (full ranking, train and valid items masked).

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lastfm.py [--seeds 2020 2021 ...]``
(LightGCN only; ``--model social`` trains the social model with its defaults instead, which the
social options below override). The last line is ``RESULT recall@10=... ndcg@10=...
precision@10=... hit@10=... mrr@10=... sec_per_epoch=... epochs=...`` (means over the seeds;
``sec_per_epoch`` is training time only, evaluation excluded). Published LightGCN (RecBole-GNN,
seed 2020): Recall@10 0.2064, NDCG@10 0.1972, Precision@10 0.1009, Hit@10 0.6322, MRR@10 0.3559.

``--full`` (default seeds 2020 2021 2022) runs, in one process on the same machine: our LightGCN and
SocialLightGCN (each with its defaults, ``TrainConfig.for_model``: the social model with the SimGCL
loss and lr 2e-3; ``--social-weight``, ``--fusion``, ``--ssl-weight``, ``--ssl-eps``,
``--ssl-temperature``, ``--ssl-rows``, ``--ssl-ramp-epochs`` override them) for every seed on the
same splits (test metrics at the best-validation epoch, @10 and @20, the cold-start slice of test
users with <= 20 training interactions, catalogue coverage@10); the wall-clock time until our
LightGCN first reaches validation NDCG@10 >= 0.19 (split, graph building and evaluations included);
the time of one full-ranking test evaluation (all items, every test user); PyG's stock
``torch_geometric.nn.models.LightGCN`` trained as in PyG's ``examples/lightgcn.py`` (full
propagation per batch of 4096 on the same training pairs), timed in alternation with ours
(``--pyg-rounds`` rounds of 2 epochs each) in a fresh child process, once with glibc's default
malloc (``sec_per_epoch``, ``pyg_sec_per_epoch``, ``speedup``) and once with its mmap and trim
thresholds raised (:data:`TUNED_MALLOC`; ``tuned_malloc_*``), because PyG's epoch time depends on
the allocator by more than 2x (``train_sec_per_epoch`` is ours while training the seeds); and both
models on the default synthetic world. Its last line is ``RESULT lightgcn_recall@10=...
lightgcn_ndcg@10=... social_recall@10=... social_ndcg@10=... sec_per_epoch=... pyg_sec_per_epoch=...
speedup=... time_to_ndcg019_s=...`` followed by more keys; ``time_to_ndcg019_s=nan`` means the
threshold was never reached (the best value is printed). The protocol masks only training items in
validation (test masks training and validation items), so a user's test items compete with the
validation items; ``lightgcn_valid_ndcg@10_test_masked`` is the best model's validation NDCG@10 with
the test items masked too (diagnostic only: model selection and early stopping use the protocol's
figure). ``--full`` also prints ``social_over_lightgcn_epoch`` (the two models' training seconds per
epoch over the seeds of this run), ``social_train_s`` and ``social_best_epoch`` (the first seed's
social run: wall-clock seconds to its early-stopped checkpoint, split and evaluations included) and
the keys of :func:`epoch_costs` about contention (``contended_sec_per_epoch``: LightGCN while the
benchmark runs a busy 2-thread process beside it).

``--epoch-costs`` (any RecBole directory with ``<name>.inter`` and ``<name>.net`` as ``--data``,
e.g. ../shared/data/flickr) runs only :func:`epoch_costs`: both models' epoch seconds in fresh
processes, their ratio, and LightGCN beside the busy process, under each of the OpenMP wait
settings of :data:`OPENMP_WAITS`. The script sets ``OMP_WAIT_POLICY=PASSIVE`` for itself unless
the environment chooses (:func:`gnn.threads.passive_openmp`), and ``--threads`` defaults to the
CPUs available (:func:`gnn.threads.default_threads`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # before torch is imported (see gnn.threads)
    from gnn.threads import passive_openmp

    passive_openmp()

from gnn.allocator import SWITCH
from gnn.data import TrainData
from gnn.threads import default_threads
from gnn.train import EpochRecord, TrainConfig, TrainResult, train
from graph.export import export_snapshot
from graph.load import load_tables
from graph.readers import read_recbole
from graph.snapshot import Snapshot, read_snapshot
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
FULL_REPORTED = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")
TARGET_NDCG = 0.19


def lastfm_snapshot(data_dir: Path, work: Path) -> Snapshot:
    """Load the RecBole files ``<name>.inter`` and ``<name>.net`` of ``data_dir`` (``<name>``
    its directory name: ``lastfm``, or e.g. ``flickr`` for the epoch costs) into a temporary
    store and export a snapshot.

    Raises:
        FileNotFoundError: if ``<name>.inter`` is missing from ``data_dir``.
    """
    inter = data_dir / f"{data_dir.name}.inter"
    net = data_dir / f"{data_dir.name}.net"
    if not inter.is_file():
        raise FileNotFoundError(
            f"{inter} not found: pass --data DIR with {inter.name} (and {net.name}), see "
            "../shared/data/README.md"
        )
    store = SQLiteStore(work / "lastfm.sqlite3")
    try:
        # Last.fm friendships are mutual (listed both ways): mutual=True keeps the snapshot (and
        # its fingerprint) as before RecBole links defaulted to directed follows.
        sources = read_recbole(inter, net if net.is_file() else None, mutual=True)
        load_tables(store, sources, work / "report")
        return export_snapshot(store, work / "snapshot")
    finally:
        store.close()


def pyg_reference_sec_per_epoch(
    data: TrainData, epochs: int, *, batch_size: int = 4096, seed: int = 0
) -> float:
    """Seconds per epoch of PyG's stock LightGCN trained as in PyG's ``examples/lightgcn.py``.

    Every batch of ``batch_size`` training pairs propagates the full graph
    (``model(edge_index, edge_label_index)``), draws one uniform negative item per pair and
    uses ``model.recommendation_loss`` (BPR + L2 1e-4) with Adam (lr 1e-3), on the same
    training pairs as our model (64 dims, 3 layers). Returns the mean over ``epochs``.
    """
    import torch
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    generator = torch.Generator().manual_seed(seed)
    users, items = data.num_users, data.num_items
    pos = torch.stack([data.train_user, data.train_item + users])
    edge_index = torch.cat([pos, pos.flip(0)], dim=1)
    model = PyGLightGCN(users + items, embedding_dim=64, num_layers=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        for index in torch.randperm(pos.size(1), generator=generator).split(batch_size):
            pos_index = pos[:, index]
            neg = torch.randint(users, users + items, (index.numel(),), generator=generator)
            label_index = torch.cat([pos_index, torch.stack([pos_index[0], neg])], dim=1)
            optimizer.zero_grad()
            pos_rank, neg_rank = model(edge_index, label_index).chunk(2)
            loss = model.recommendation_loss(pos_rank, neg_rank, node_id=label_index.unique())
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    return statistics.fmean(seconds)


def paired_sec_per_epoch(
    data: TrainData, config: TrainConfig, rounds: int, epochs: int = 2
) -> tuple[float, float]:
    """Median seconds per epoch of PyG's stock LightGCN and of ours, timed in alternation.

    Each of ``rounds`` rounds trains PyG's model (:func:`pyg_reference_sec_per_epoch`) and then
    ours (``config``, training time only) for ``epochs`` epochs each on ``data``, so that both
    see the machine in the same state; a slow spell hits both sides.

    Returns:
        ``(pyg, ours)``: the medians of the rounds' means.
    """
    pyg, ours = [], []
    for round_ in range(rounds):
        pyg.append(pyg_reference_sec_per_epoch(data, epochs, seed=config.seed + round_))
        timed = replace(config, seed=config.seed + round_, epochs=epochs, eval_every=epochs)
        ours.append(train(data, timed).sec_per_epoch)
    return statistics.median(pyg), statistics.median(ours)


#: glibc malloc tuned to keep freed blocks for reuse instead of returning them to the kernel
#: (and page-faulting them back on the next allocation).
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}


def paired_in_fresh_process(
    snapshot_dir: Path, seed: int, rounds: int, threads: int, malloc: dict[str, str]
) -> tuple[float, float]:
    """:func:`paired_sec_per_epoch` in a new Python process with the ``malloc`` settings.

    A fresh process times both sides from the same state, whatever this process ran before
    (its allocator state changes PyG's epoch time by more than 2x). Any ``MALLOC_*`` setting of
    this process is dropped first and training's own allocator tuning is switched off
    (:data:`gnn.allocator.SWITCH`), so ``malloc={}`` is glibc's default for both sides.

    Returns:
        ``(pyg, ours)`` seconds per epoch.

    Raises:
        RuntimeError: if the child process fails.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    # Both sides run with the same allocator settings: training's own tuning
    # (gnn.allocator) would otherwise carry over to PyG's later rounds in this process.
    env[SWITCH] = "0"
    env.update(malloc)
    command = [sys.executable, str(Path(__file__).resolve()), "--timing-only", str(snapshot_dir)]
    command += ["--seeds", str(seed), "--pyg-rounds", str(rounds), "--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timing process failed ({done.returncode}): {done.stderr[-2000:]}")
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    return float(timing["pyg"]), float(timing["ours"])


def run_timing_only(args: argparse.Namespace) -> int:
    """``--timing-only SNAPSHOT``: :func:`paired_sec_per_epoch` on the first seed's split of
    LightGCN's default config; prints ``{"pyg": ..., "ours": ...}`` as the last line."""
    seed = (args.seeds or [2020])[0]
    data = TrainData.from_snapshot(read_snapshot(args.timing_only), seed=seed)
    config = TrainConfig.for_model("lightgcn", seed=seed, num_threads=args.threads)
    pyg, ours = paired_sec_per_epoch(data, config, args.pyg_rounds)
    print(json.dumps({"pyg": pyg, "ours": ours}))
    return 0


#: The busy neighbour of the contention measurement: another job with two threads of dense
#: products (torch's default OpenMP policy), as on a shared machine.
BUSY_NEIGHBOUR = (
    "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True:\n    a @ a\n"
)


#: How idle OpenMP threads wait, as environment settings of a fresh process: this project's
#: default (none set: the child's :func:`gnn.threads.passive_openmp` makes them sleep at once),
#: a short spin of about 10 microseconds before sleeping, and libgomp's own default (with no
#: wait policy set it spins 300,000 times, about 3 ms). libgomp takes an explicit
#: ``GOMP_SPINCOUNT`` over the spin count of the policy, which the child still sets to passive.
OPENMP_WAITS: dict[str, dict[str, str]] = {
    "passive": {},
    "short_spin": {"GOMP_SPINCOUNT": "1000"},
    "spin": {"GOMP_SPINCOUNT": "300000"},
}


def epoch_seconds_in_fresh_process(
    snapshot_dir: Path, model: str, seed: int, epochs: int, threads: int, wait: str
) -> float:
    """Median training seconds of epochs 2..``epochs`` of ``model`` (its defaults) in a new
    Python process whose OpenMP threads wait as :data:`OPENMP_WAITS` ``[wait]`` says.

    Raises:
        RuntimeError: if the child process fails.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(OPENMP_WAITS[wait])
    command = [sys.executable, str(Path(__file__).resolve()), "--epoch-seconds", str(snapshot_dir)]
    command += ["--model", model, "--seeds", str(seed), "--cost-epochs", str(epochs)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timing process failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["sec_per_epoch"])


def run_epoch_seconds(args: argparse.Namespace) -> int:
    """``--epoch-seconds SNAPSHOT``: train ``--model`` for ``--epochs`` epochs (one evaluation,
    at the end) on the first seed's split; print ``{"sec_per_epoch": ...}``, the median of
    epochs 2 onwards, as the last line."""
    seed = (args.seeds or [2020])[0]
    data = TrainData.from_snapshot(read_snapshot(args.epoch_seconds), seed=seed)
    epochs = max(2, args.cost_epochs)
    config = TrainConfig.for_model(
        args.model, seed=seed, epochs=epochs, eval_every=epochs, num_threads=args.threads
    )
    seconds = [r.train_seconds for r in train(data, config).history[1:]]
    print(json.dumps({"sec_per_epoch": statistics.median(seconds)}))
    return 0


def epoch_costs(
    snapshot_dir: Path, seed: int, threads: int, epochs: int, rounds: int
) -> dict[str, float]:
    """Epoch seconds of both models, quiet and beside a busy neighbour, under the OpenMP waits
    of :data:`OPENMP_WAITS`, each in a fresh process (:func:`epoch_seconds_in_fresh_process`).

    ``rounds`` alternating rounds on a quiet machine train LightGCN and the social model with
    this project's default wait, passive (``lightgcn_sec_per_epoch``, ``social_sec_per_epoch``,
    medians; ``social_over_lightgcn_epoch``, the median of the rounds' ratios), and with the
    short spin (``short_spin_lightgcn_sec_per_epoch``, ``short_spin_social_sec_per_epoch``:
    what the passive wait costs on a quiet machine). Then :data:`BUSY_NEIGHBOUR` runs in a second
    process while LightGCN trains once per wait: ``contended_sec_per_epoch`` (the default),
    ``contended_short_spin_sec_per_epoch`` and ``contended_spin_sec_per_epoch`` (libgomp's long
    spin, the baseline); ``contended_over_quiet`` is the default's contended figure over its
    quiet one.
    """
    quiet: dict[str, list[float]] = {}
    for _ in range(rounds):
        for wait, prefix in (("passive", ""), ("short_spin", "short_spin_")):
            for model in ("lightgcn", "social"):
                seconds = epoch_seconds_in_fresh_process(
                    snapshot_dir, model, seed, epochs, threads, wait
                )
                quiet.setdefault(f"{prefix}{model}_sec_per_epoch", []).append(seconds)
    out = {key: statistics.median(runs) for key, runs in quiet.items()}
    # Each round's two runs are neighbours in time: the median of their ratios cancels most of
    # a shared machine's drifting speed, which the ratio of the two medians does not.
    pairs = zip(quiet["lightgcn_sec_per_epoch"], quiet["social_sec_per_epoch"], strict=True)
    out["social_over_lightgcn_epoch"] = statistics.median(soc / lgcn for lgcn, soc in pairs)
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY_NEIGHBOUR])
    try:
        time.sleep(2.0)  # let it start spinning
        for key, wait in (
            ("contended", "passive"),
            ("contended_short_spin", "short_spin"),
            ("contended_spin", "spin"),
        ):
            out[f"{key}_sec_per_epoch"] = epoch_seconds_in_fresh_process(
                snapshot_dir, "lightgcn", seed, epochs, threads, wait
            )
    finally:
        neighbour.kill()
        neighbour.wait()
    out["contended_over_quiet"] = out["contended_sec_per_epoch"] / out["lightgcn_sec_per_epoch"]
    return out


def run_epoch_costs(args: argparse.Namespace, snapshot_dir: Path) -> int:
    """``--epoch-costs``: :func:`epoch_costs` alone (the data set of ``--data``); prints
    ``RESULT`` with its keys last."""
    seed = (args.seeds or [2020])[0]
    costs = epoch_costs(snapshot_dir, seed, args.threads, args.cost_epochs, args.rounds)
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in costs.items()))
    return 0


def _timed_train(
    snapshot: Snapshot, config: TrainConfig, verbose: bool
) -> tuple[TrainResult, float | None, float]:
    """Train; return the result, the wall-clock seconds until validation NDCG@10 first
    reached :data:`TARGET_NDCG` (``None`` if never) and the total wall-clock seconds."""
    started = time.perf_counter()
    reached: list[float] = []

    def show(record: EpochRecord) -> None:
        if record.valid is None:
            return
        if not reached and record.valid["ndcg@10"] >= TARGET_NDCG:
            reached.append(time.perf_counter() - started)
        if verbose:
            print(
                f"  {config.model} epoch {record.epoch:4d} loss {record.loss:.4f} train "
                f"{record.train_seconds:.3f}s valid ndcg@10 {record.valid['ndcg@10']:.4f} "
                f"recall@10 {record.valid['recall@10']:.4f}",
                flush=True,
            )

    result = train(snapshot, config, show)
    return result, (reached[0] if reached else None), time.perf_counter() - started


def _valid_ndcg_test_masked(result: TrainResult) -> float:
    """Validation NDCG@10 of the best model with the test items masked too.

    The protocol masks only training items in validation but training and validation items in
    test, so a user's test items compete with the validation items and validation figures sit
    below test ones. Swapping the two splits and evaluating "test" masks them symmetrically.
    """
    from gnn.evaluate import evaluate

    data = result.data
    swapped = replace(
        data,
        valid_user=data.test_user,
        valid_item=data.test_item,
        test_user=data.valid_user,
        test_item=data.valid_item,
    )
    return evaluate(result.user_embeddings, result.item_embeddings, swapped, "test", (10,))[
        "ndcg@10"
    ]


def _summary(result: TrainResult) -> dict[str, float]:
    """Test metrics, cold-start slice, coverage@10 and validation figures of a trained model."""
    from gnn.report import build_report

    report = build_report(
        result.user_embeddings, result.item_embeddings, result.data, "test", (10, 20)
    )
    out = {m: result.test_metrics[m] for m in FULL_REPORTED}
    out.update({f"cold_{m}": report["cold_start"]["metrics"][m] for m in ("recall@10", "ndcg@10")})
    out["cold_users"] = float(report["cold_start"]["users"])
    out["coverage@10"] = report["coverage"]["coverage@10"]
    out["valid_ndcg@10"] = result.valid_metrics["ndcg@10"]
    out["valid_ndcg@10_test_masked"] = _valid_ndcg_test_masked(result)
    out["best_epoch"] = float(result.best_epoch)
    out["sec_per_epoch"] = result.sec_per_epoch
    return out


def _eval_seconds(result: TrainResult, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of one full-ranking test evaluation (all items, all users)."""
    from gnn.evaluate import evaluate

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        evaluate(result.user_embeddings, result.item_embeddings, result.data, "test", (10, 20))
        times.append(time.perf_counter() - started)
    return min(times)


def synthetic_snapshot() -> Snapshot:
    """The default synthetic world (``WorldConfig()``) as a snapshot."""
    from graph.synthetic import WorldConfig, generate_world

    return generate_world(WorldConfig()).to_snapshot()


def _social_overrides(config: TrainConfig, args: argparse.Namespace) -> None:
    """Apply the social model's command-line options (those given) to ``config``."""
    for field in (
        "social_weight",
        "fusion",
        "ssl_weight",
        "ssl_eps",
        "ssl_temperature",
        "ssl_rows",
        "ssl_ramp_epochs",
    ):
        value = getattr(args, field)
        if value is not None:
            setattr(config, field, value)


def _line(name: str, values: dict[str, float]) -> str:
    return f"{name}: " + " ".join(f"{k} {v:.4f}" for k, v in values.items())


def run_full(args: argparse.Namespace, snapshot: Snapshot, snapshot_dir: Path) -> int:
    """The ``--full`` benchmark (see the module docstring); ``snapshot`` is read from
    ``snapshot_dir``."""
    from socialrec.seeding import seed_everything

    seeds = args.seeds or [2020, 2021, 2022]
    overrides = {
        "epochs": args.epochs,
        "lr": args.lr,
        "reg_weight": args.reg_weight,
        "patience": args.patience,
        "eval_every": args.eval_every,
    }
    common = {k: v for k, v in overrides.items() if v is not None}
    rows: dict[str, list[dict[str, float]]] = {"lightgcn": [], "social": []}
    reach_times: list[float | None] = []
    social_train: tuple[float, int] | None = None  # the first seed's wall seconds, best epoch
    best_valid = 0.0
    eval_times = []
    for seed in seeds:
        for model in ("lightgcn", "social"):
            seed_everything(seed)
            config = TrainConfig.for_model(model, seed=seed, num_threads=args.threads, **common)
            if model == "social":
                _social_overrides(config, args)
            result, reached, wall = _timed_train(snapshot, config, args.verbose)
            row = _summary(result)
            rows[model].append(row)
            if model == "social" and social_train is None:
                social_train = (wall, result.best_epoch)
            if model == "lightgcn":
                reach_times.append(reached)
                best_valid = max(best_valid, result.valid_metrics["ndcg@10"])
                eval_times.append(_eval_seconds(result))
            print(
                f"seed {seed} {model}: best epoch {result.best_epoch}/{result.epochs_run}, "
                + " ".join(
                    f"{k} {row[k]:.4f}"
                    for k in ("valid_ndcg@10", "valid_ndcg@10_test_masked", *FULL_REPORTED)
                )
                + f", cold@10 R {row['cold_recall@10']:.4f} N {row['cold_ndcg@10']:.4f}"
                + f" ({row['cold_users']:.0f} users), coverage@10 {row['coverage@10']:.4f}, "
                + f"{result.sec_per_epoch:.3f} s/epoch, {wall:.0f}s"
                + (
                    f", valid ndcg@10 >= {TARGET_NDCG} after {reached:.1f}s"
                    if reached is not None
                    else (
                        f", never reached valid ndcg@10 >= {TARGET_NDCG}"
                        if model == "lightgcn"
                        else ""
                    )
                ),
                flush=True,
            )
    mean = {
        model: {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
        for model, runs in rows.items()
    }
    for model, runs in rows.items():
        print(
            _line(
                f"mean {model}",
                {
                    k: mean[model][k]
                    for k in (*FULL_REPORTED, "cold_recall@10", "cold_ndcg@10", "coverage@10")
                },
            )
        )
        if len(runs) > 1:
            print(
                _line(
                    f"std  {model}",
                    {k: statistics.stdev(r[k] for r in runs) for k in FULL_REPORTED},
                )
            )
    wins = sum(
        soc["ndcg@10"] > lgn["ndcg@10"]
        for soc, lgn in zip(rows["social"], rows["lightgcn"], strict=True)
    )
    print(f"social beats lightgcn on ndcg@10 in {wins}/{len(seeds)} seeds")
    print(
        _line("published LightGCN", PUBLISHED)
        + "; MHCN recall@10 0.2123 ndcg@10 0.2068; SEPT 0.2127 / 0.2057"
    )

    timings = {}
    for regime, malloc in (("default", {}), ("tuned_malloc", TUNED_MALLOC)):
        timings[regime] = paired_in_fresh_process(
            snapshot_dir, seeds[0], args.pyg_rounds, args.threads, malloc
        )
        pyg, ours = timings[regime]
        settings = " ".join(f"{k}={v}" for k, v in malloc.items()) or "glibc's default malloc"
        print(
            f"PyG stock LightGCN vs ours, fresh process, {settings}: PyG {pyg:.3f} s/epoch, ours "
            f"{ours:.3f} s/epoch (medians of {args.pyg_rounds} alternating rounds of 2 epochs "
            f"each, {args.threads} threads): speedup {pyg / ours:.1f}x",
            flush=True,
        )
    print(f"ours while training the seeds above: {mean['lightgcn']['sec_per_epoch']:.3f} s/epoch")
    pyg, ours = timings["default"]
    tuned_pyg, tuned_ours = timings["tuned_malloc"]
    hits = [t for t in reach_times if t is not None]
    time_to = statistics.fmean(hits) if len(hits) == len(reach_times) else float("nan")
    if hits and len(hits) < len(reach_times):
        print(f"valid ndcg@10 >= {TARGET_NDCG} reached in {len(hits)}/{len(reach_times)} seeds")
    if not hits:
        print(
            f"our LightGCN never reached valid ndcg@10 >= {TARGET_NDCG} (best {best_valid:.4f}; "
            "mean at the best epoch with the test items masked too: "
            f"{mean['lightgcn']['valid_ndcg@10_test_masked']:.4f})"
        )
    else:
        print(
            f"time to valid ndcg@10 >= {TARGET_NDCG}: "
            + ", ".join("never" if t is None else f"{t:.1f}s" for t in reach_times)
        )
    costs = epoch_costs(snapshot_dir, seeds[0], args.threads, args.cost_epochs, args.rounds)
    print(
        f"LightGCN beside a busy 2-thread process: {costs['contended_sec_per_epoch']:.3f} "
        f"s/epoch passive, {costs['contended_short_spin_sec_per_epoch']:.3f} with the short spin, "
        f"{costs['contended_spin_sec_per_epoch']:.3f} with libgomp's long spin; quiet "
        f"{costs['lightgcn_sec_per_epoch']:.3f} ({costs['short_spin_lightgcn_sec_per_epoch']:.3f} "
        "with the short spin) "
        f"(load average {os.getloadavg()[0]:.2f})",
        flush=True,
    )
    eval_s = statistics.fmean(eval_times)
    items = snapshot.meta["counts"]["items"]
    print(f"full-ranking test evaluation ({items} items, every test user): {eval_s:.3f}s")

    synthetic: dict[str, dict[str, float]] = {}
    if not args.skip_synthetic:
        started = time.perf_counter()
        world = synthetic_snapshot()
        counts = world.meta["counts"]
        print(
            f"synthetic world: {counts['users']} users, {counts['items']} items, "
            f"{counts['interactions']} interactions, {counts['social_edges']} social edges "
            f"({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
        for model in ("lightgcn", "social"):
            seed_everything(seeds[0])
            config = TrainConfig.for_model(model, seed=seeds[0], num_threads=args.threads, **common)
            if model == "social":
                _social_overrides(config, args)
            result, _, wall = _timed_train(world, config, args.verbose)
            synthetic[model] = _summary(result)
            print(
                _line(
                    f"synthetic {model} (seed {seeds[0]}, {wall:.0f}s)",
                    {
                        k: synthetic[model][k]
                        for k in (*FULL_REPORTED, "cold_recall@10", "coverage@10")
                    },
                ),
                flush=True,
            )

    keys = {
        "lightgcn_recall@10": mean["lightgcn"]["recall@10"],
        "lightgcn_ndcg@10": mean["lightgcn"]["ndcg@10"],
        "social_recall@10": mean["social"]["recall@10"],
        "social_ndcg@10": mean["social"]["ndcg@10"],
        "sec_per_epoch": ours,
        "train_sec_per_epoch": mean["lightgcn"]["sec_per_epoch"],
        "pyg_sec_per_epoch": pyg,
        "speedup": pyg / ours,
        "time_to_ndcg019_s": time_to,
        "tuned_malloc_sec_per_epoch": tuned_ours,
        "tuned_malloc_pyg_sec_per_epoch": tuned_pyg,
        "tuned_malloc_speedup": tuned_pyg / tuned_ours,
        "lightgcn_recall@20": mean["lightgcn"]["recall@20"],
        "lightgcn_ndcg@20": mean["lightgcn"]["ndcg@20"],
        "social_recall@20": mean["social"]["recall@20"],
        "social_ndcg@20": mean["social"]["ndcg@20"],
        "lightgcn_cold_recall@10": mean["lightgcn"]["cold_recall@10"],
        "social_cold_recall@10": mean["social"]["cold_recall@10"],
        "lightgcn_coverage@10": mean["lightgcn"]["coverage@10"],
        "social_coverage@10": mean["social"]["coverage@10"],
        "social_sec_per_epoch": mean["social"]["sec_per_epoch"],
        "social_over_lightgcn_epoch": mean["social"]["sec_per_epoch"]
        / mean["lightgcn"]["sec_per_epoch"],
        "social_train_s": social_train[0] if social_train else float("nan"),
        "social_best_epoch": float(social_train[1]) if social_train else float("nan"),
        "contended_sec_per_epoch": costs["contended_sec_per_epoch"],
        "contended_short_spin_sec_per_epoch": costs["contended_short_spin_sec_per_epoch"],
        "contended_spin_sec_per_epoch": costs["contended_spin_sec_per_epoch"],
        "contended_over_quiet": costs["contended_over_quiet"],
        "short_spin_lightgcn_sec_per_epoch": costs["short_spin_lightgcn_sec_per_epoch"],
        "eval_s": eval_s,
        "best_valid_ndcg@10": best_valid,
        "lightgcn_valid_ndcg@10_test_masked": mean["lightgcn"]["valid_ndcg@10_test_masked"],
    }
    for model, values in synthetic.items():
        keys[f"synthetic_{model}_recall@10"] = values["recall@10"]
        keys[f"synthetic_{model}_ndcg@10"] = values["ndcg@10"]
    print(
        "RESULT "
        + " ".join(
            f"{k}={v:.1f}" if k.endswith("speedup") else f"{k}={v:.4f}" for k, v in keys.items()
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LastFM directory")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="one run per seed [2020; --full: 3]"
    )
    parser.add_argument("--epochs", type=int, default=1000, help="max epochs (default 1000)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: config)")
    parser.add_argument("--reg-weight", type=float, default=None)
    parser.add_argument(
        "--patience", type=int, default=50, help="evaluations without gain (protocol: 50)"
    )
    parser.add_argument("--eval-every", type=int, default=1, help="epochs between evaluations")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: the CPUs available, gnn.threads.default_threads)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every evaluation")
    parser.add_argument(
        "--full", action="store_true", help="both models, PyG reference, synthetic world"
    )
    parser.add_argument("--social-weight", type=float, default=None, help="social fusion weight")
    parser.add_argument("--fusion", default=None, help="social fusion rule (fixed | degree)")
    parser.add_argument("--ssl-weight", type=float, default=None, help="social contrastive weight")
    parser.add_argument("--ssl-eps", type=float, default=None, help="social contrastive noise")
    parser.add_argument(
        "--ssl-temperature", type=float, default=None, help="social contrastive temperature"
    )
    parser.add_argument(
        "--ssl-rows", type=int, default=None, help="social contrastive pairs per step"
    )
    parser.add_argument(
        "--ssl-ramp-epochs", type=int, default=None, help="epochs of the contrastive weight's ramp"
    )
    parser.add_argument(
        "--pyg-rounds",
        type=int,
        default=3,
        help="alternating rounds of 2 epochs of PyG's LightGCN and ours, timed (default 3)",
    )
    parser.add_argument("--skip-synthetic", action="store_true", help="--full without synthetic")
    parser.add_argument(
        "--epoch-costs",
        action="store_true",
        help="only the epoch costs: both models quiet, LightGCN beside a busy process",
    )
    parser.add_argument(
        "--cost-epochs", type=int, default=4, help="epochs per epoch-cost timing (default 4)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating epoch-cost rounds (default 2)"
    )
    parser.add_argument(
        "--timing-only", type=Path, default=None, metavar="SNAPSHOT", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--epoch-seconds", type=Path, default=None, metavar="SNAPSHOT", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--model",
        default="lightgcn",
        help="the model of the default run (lightgcn | social, each with its defaults)",
    )
    args = parser.parse_args(argv)

    import torch

    if args.threads is None:
        args.threads = default_threads()
    torch.set_num_threads(args.threads)
    if args.timing_only is not None:
        return run_timing_only(args)
    if args.epoch_seconds is not None:
        return run_epoch_seconds(args)
    with tempfile.TemporaryDirectory(prefix="socialrec-lastfm-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, work: Path) -> int:
    """Build the snapshot in ``work``, then run the LightGCN or the ``--full`` benchmark."""
    from socialrec.seeding import seed_everything

    try:
        started = time.perf_counter()
        snapshot = lastfm_snapshot(args.data, work)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = snapshot.meta["counts"]
    print(
        f"snapshot: {counts['users']} users, {counts['items']} items, "
        f"{counts['interactions']} interactions, {counts['social_edges']} social edges "
        f"({time.perf_counter() - started:.1f}s)"
    )
    if args.full:
        return run_full(args, snapshot, work / "snapshot")
    if args.epoch_costs:
        return run_epoch_costs(args, work / "snapshot")

    overrides = {
        "epochs": args.epochs,
        "lr": args.lr,
        "reg_weight": args.reg_weight,
        "patience": args.patience,
        "eval_every": args.eval_every,
    }
    runs = []
    for seed in args.seeds or [2020]:
        seed_everything(seed)
        config = TrainConfig.for_model(
            args.model,
            seed=seed,
            num_threads=args.threads,
            **{k: v for k, v in overrides.items() if v is not None},
        )
        if args.model == "social":
            _social_overrides(config, args)

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
            f"valid ndcg@10 {result.valid_metrics['ndcg@10']:.4f} "
            f"recall@10 {result.valid_metrics['recall@10']:.4f}, "
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
