"""Growth curves: how each stage's time and peak memory grow with the graph (issue 8).

For synthetic worlds of :mod:`graph.synthetic` at ``--sizes`` users (friendships, follows and
interactions scale with the users; the catalogue is fixed at ``--items``, default the
generator's 2,000), every stage runs in its own child process (``python -m benchmarks.growth
--stage NAME``), so its peak memory is its own: ``ru_maxrss`` of the child from ``os.wait4``,
which is the largest of the stage's processes (a server it started included).

============  ==========================================================  ====================
stage         work                                                        cost
============  ==========================================================  ====================
generate      ``generate_world`` + ``write_world`` (CSV input directory)  seconds
load_sqlite   ``load_directory`` into ``SQLiteStore`` (validated)         seconds
load_bolt     ``load_directory`` into ``Neo4jStore`` on a local ArcadeDB  seconds
              (tests/bolt_server.py, ``-Xmx1g``), up to ``--bolt-max-users``
export        ``export_snapshot`` from the SQLite store (``--snapshot-from  seconds
              world``: ``World.to_snapshot`` of the regenerated world, no
              store; export then needs only generate)
train         LightGCN BPR steps, ``TrainConfig`` defaults (dim 64, 3     seconds per epoch
              layers, batch 4096): the whole epoch when it has at most
              ``--train-batches`` batches, else that many batches after one
              warm-up batch, *projected* = negatives of the epoch + s/batch
              x batches per epoch. Also (``train_capped``) the epoch with
              ``steps_per_epoch = --steps-per-epoch`` (64: the batch grows
              past 4,096 so that an epoch takes at most 64 steps), projected
              from ``--capped-batches`` steps. ``--device cuda`` trains on
              the GPU (negatives and batches drawn on the CPU, as in
              ``gnn.train``); peak GPU memory in the JSON
eval          ``gnn.evaluate.evaluate``, full ranking of the test split   seconds
serve         ``GET /api/v1/users/{id}/recommendations?k=10`` on a real   p99 seconds
              ``socialrec serve`` (uvicorn, 1 torch thread), sequential
              client: latency at low load, after a warm-up
reach         ``estimate_reach``, weighted cascade, the 10 most-followed   seconds
              users, 1,000 simulations (after a numba warm-up)
plan          ``plan_campaign`` (IMM), weighted cascade, ``k = 50``       seconds
============  ==========================================================  ====================

Edges are the rows written to ``interactions.csv`` plus ``friendships.csv`` (friend pairs and
follows). A stage's growth exponent is the least-squares slope of ``log(cost)`` on
``log(edges)`` over the sizes where it succeeded; with two sizes it is the slope between them.
The reference is 1 (cost linear in edges). Memory per million edges is the least-squares slope
of peak MB on edges (the intercept is the fixed cost: interpreter, torch, the JVM).

Run (one command; Ctrl-C stops every process it started)::

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.growth --sizes 10000,100000

``--stages train,reach`` runs only those stages and the ones they need (here generate,
load_sqlite, export); the others are recorded as skipped. On a GPU machine::

    python -m benchmarks.growth --sizes 10000,100000 --stages train,eval --device cuda \
        --snapshot-from world --threads 16

Data lives under ``--work`` (default ``runs/bench/growth``, one folder per size, removed after
the size unless ``--keep``). Outputs: the table, ``--out`` (default ``runs/bench/growth.png``,
log-log), the raw figures next to it (``.json``), and the last line ``RESULT exp_generate=...
exp_load_sqlite=... exp_load_bolt=... exp_export=... exp_train=... exp_eval=...
exp_serve_p99=... exp_reach=... exp_plan=... exp_train_batch=... exp_train_capped=...
load_rows_per_s_<users>=... load_peak_mb_<users>=... (each size) load_rows_per_s=...
load_baseline_rows_per_s=... export_s=... export_speedup=... sizes=... edges_max=...``
(``nan`` where fewer than two sizes succeeded). ``load_rows_per_s`` is the rows accepted per second
into SQLite at the largest size loaded, ``load_peak_mb_<users>`` the loader's peak RSS
(``ru_maxrss`` before any baseline); ``--load-baseline`` also times the row-by-row loader it
replaced (tests/graph/rowwise_reference.py) on the same input, ``export_speedup`` is the
seconds of the export it replaced (schema objects, tuple sorting: tests/graph/
snapshot_reference.py, same fingerprint checked) over ``export_snapshot``'s at the largest size
(``--no-export-baseline`` skips it); ``exp_train_batch`` is the exponent of the
seconds per training batch (each batch propagates the whole graph, so an epoch costs about
batches x that), ``exp_train_capped`` that of the epoch with at most ``--steps-per-epoch``
steps.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, Final

import numpy as np

REPO: Final[Path] = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # tests/ (the ArcadeDB launcher) is not an installed package
    sys.path.insert(0, str(REPO))

#: Stages in run order, with the stage each one needs and what its cost measures.
STAGE_NEEDS: Final[dict[str, str | None]] = {
    "generate": None,
    "load_sqlite": "generate",
    "load_bolt": "generate",
    "export": "load_sqlite",
    "train": "export",
    "eval": "train",
    "serve": "train",
    "reach": "export",
    "plan": "export",
}
COST_LABELS: Final[dict[str, str]] = {
    "generate": "s",
    "load_sqlite": "s",
    "load_bolt": "s",
    "export": "s",
    "train": "s/epoch",
    "eval": "s",
    "serve": "p99 ms",
    "reach": "s",
    "plan": "s",
}
#: Figures fitted besides the stages' costs: name -> (stage, detail key, unit).
DERIVED: Final[dict[str, tuple[str, str, str]]] = {
    "train_batch": ("train", "per_batch_s", "s/batch"),
    "train_capped": ("train", "capped_epoch_s", "s/epoch"),
}
#: RESULT key of each stage's and derived figure's exponent, in order.
RESULT_KEYS: Final[dict[str, str]] = {s: f"exp_{s}" for s in (*STAGE_NEEDS, *DERIVED)} | {
    "serve": "exp_serve_p99"
}
INPUT, SQLITE, SNAPSHOT, CHECKPOINT = "input", "graph.sqlite3", "snapshot", "model.pt"
#: "Now" of the loads: the same for the loader and its baseline (the world's times are past).
_NOW: Final[int] = int(time.time())
_GRACE_S: Final[float] = 10.0


@dataclass(frozen=True)
class Params:
    """What every stage of one size needs (passed to child processes as JSON)."""

    users: int
    items: int = 2000
    seed: int = 0
    threads: int = 2
    train_batches: int = 30
    steps_per_epoch: int = 64
    capped_batches: int = 5
    requests: int = 500
    warmup: int = 50
    simulations: int = 1000
    reach_seeds: int = 10
    plan_k: int = 50
    device: str = "cpu"
    snapshot_from: str = "store"
    #: export: also time the tuple-sorting export it replaced (tests/graph/snapshot_reference.py).
    export_baseline: bool = True
    #: load_sqlite: also time the row-by-row loader it replaced (tests/graph/rowwise_reference.py).
    load_baseline: bool = False


@dataclass
class StageRecord:
    """The outcome of one stage at one size; ``cost`` in seconds (see module docstring)."""

    stage: str
    status: str  # "ok", "failed", "timeout" or "skipped"
    cost: float | None = None
    peak_mb: float | None = None
    wall_s: float | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    #: 1-minute load average of the machine when the stage started and ended (CPU sharing).
    loadavg: tuple[float, float] | None = None


@dataclass
class SizeResult:
    """Every stage of one world size."""

    users: int
    edges: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    stages: dict[str, StageRecord] = field(default_factory=dict)


# -- stages (each runs in its own process; callable in-process for tests) ----------------------


def _peak_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Ticker:
    """Prints ``stage: table N rows`` every ``every`` rows of a table (progress of long loads)."""

    def __init__(self, stage: str, every: int = 1_000_000) -> None:
        self.stage, self.every, self.rows = stage, every, dict[str, int]()

    def __call__(self, table: str, done: int) -> None:
        before = self.rows.get(table, 0)
        self.rows[table] = before + done
        if before // self.every != self.rows[table] // self.every:
            print(f"    {self.stage}: {table} {self.rows[table]:,} rows", flush=True)


def stage_generate(root: Path, p: Params) -> dict[str, Any]:
    """Generate the world and write its input directory; returns the row counts."""
    from graph.synthetic import WorldConfig, generate_world, write_world

    started = time.perf_counter()
    world = generate_world(WorldConfig(num_users=p.users, num_items=p.items, seed=p.seed))
    generated = time.perf_counter() - started
    files = write_world(world, root / INPUT)
    seconds = time.perf_counter() - started
    counts = dict(files.clean_rows)
    return {
        "cost": seconds,
        "generate_s": generated,
        "write_s": seconds - generated,
        "counts": counts,
        "edges": counts["interactions"] + counts["friendships"],
    }


def _load(store: Any, root: Path, report: str, stage: str) -> dict[str, Any]:
    from graph.load import load_directory

    started = time.perf_counter()
    summary = load_directory(store, root / INPUT, root / report, progress=_Ticker(stage), now=_NOW)
    seconds = time.perf_counter() - started
    accepted = sum(t.accepted for t in summary.tables)
    return {
        "cost": seconds,
        "rows": accepted,
        "rejected": summary.rejected,
        "rows_per_s": accepted / seconds,
    }


def stage_load_sqlite(root: Path, p: Params) -> dict[str, Any]:
    """Validate and load the input directory into a fresh SQLite store (and, with
    ``p.load_baseline``, into another with the row-by-row loader it replaced)."""
    from graph.sqlite_store import SQLiteStore

    store = SQLiteStore(root / SQLITE)
    try:
        out = _load(store, root, "report_sqlite", "load_sqlite")
    finally:
        store.close()
    out["db_mb"] = (root / SQLITE).stat().st_size / 2**20
    out["load_peak_mb"] = _peak_self_mb()  # before the baseline: the loader's own peak
    if p.load_baseline:
        from graph.readers import read_directory
        from tests.graph.rowwise_reference import rowwise_load

        old = SQLiteStore(root / "rowwise.sqlite3")
        try:
            started = time.perf_counter()
            rowwise_load(old, read_directory(root / INPUT), root / "report_rowwise", now=_NOW)
            seconds = time.perf_counter() - started
        finally:
            old.close()
        out["baseline_s"] = seconds
        out["baseline_rows_per_s"] = out["rows"] / seconds
        (root / "rowwise.sqlite3").unlink()
    return out


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of a live process (``VmHWM``), or None where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stage_load_bolt(root: Path, p: Params) -> dict[str, Any]:
    """Load the input directory into a Neo4jStore on a fresh local ArcadeDB (Bolt)."""
    from tests.bolt_server import ArcadeServer

    server = ArcadeServer(root / "arcadedb")
    server.start()
    try:
        store = server.target.open_store(max_retry_time=30.0)
        try:
            out = _load(store, root, "report_bolt", "load_bolt")
        finally:
            store.close()
        assert server.process is not None
        out["server_peak_mb"] = _vm_hwm_mb(server.process.pid)
    finally:
        server.stop()
    out["loader_peak_mb"] = _peak_self_mb()
    return out


def stage_export(root: Path, p: Params) -> dict[str, Any]:
    """Export the SQLite store to a snapshot directory (or build it from the world)."""
    from graph.export import export_snapshot
    from graph.snapshot import write_snapshot
    from graph.sqlite_store import SQLiteStore
    from graph.synthetic import WorldConfig, generate_world

    baseline: float | None = None
    if p.snapshot_from == "world":
        world = generate_world(WorldConfig(num_users=p.users, num_items=p.items, seed=p.seed))
        started = time.perf_counter()
        snapshot = world.to_snapshot()
        write_snapshot(snapshot, root / SNAPSHOT)
        seconds = time.perf_counter() - started
    else:
        store = SQLiteStore(root / SQLITE)
        try:
            started = time.perf_counter()
            snapshot = export_snapshot(store, root / SNAPSHOT, progress=_Ticker("export"))
            seconds = time.perf_counter() - started
            export_peak_mb = _peak_self_mb()  # before the baseline: the export's own peak
            baseline = _export_baseline(store, root, snapshot) if p.export_baseline else None
        finally:
            store.close()
    out: dict[str, Any] = {
        "cost": seconds,
        "source": p.snapshot_from,
        "interactions": int(snapshot.inter_user.shape[0]),
        "social_edges": int(snapshot.social_src.shape[0]),
    }
    if baseline is not None:
        out |= {"baseline_s": baseline, "speedup": baseline / seconds}
        out["export_peak_mb"] = export_peak_mb
    return out


def _export_baseline(store: Any, root: Path, snapshot: Any) -> float:
    """Time the export path that ``export_snapshot`` replaced (schema objects from the store,
    the tuple-sorting builder, the same writer) and check it gives the same snapshot."""
    from graph.snapshot import write_snapshot
    from tests.graph.snapshot_reference import reference_snapshot

    started = time.perf_counter()
    pages = (store.iter_users(), store.iter_items(), store.iter_friendships())
    users, items, friendships = ([row for page in p for row in page] for p in pages)
    interactions = [row for page in store.iter_interactions() for row in page]
    old = reference_snapshot(users, items, friendships, interactions, source=store.kind)
    write_snapshot(old, root / "snapshot_baseline")
    seconds = time.perf_counter() - started
    shutil.rmtree(root / "snapshot_baseline")
    if old.fingerprint != snapshot.fingerprint:
        raise RuntimeError("the baseline export's fingerprint differs from export_snapshot's")
    return seconds


def stage_train(root: Path, p: Params) -> dict[str, Any]:
    """Time LightGCN's BPR epoch (measured, or projected from ``p.train_batches`` batches), and
    the epoch with at most ``p.steps_per_epoch`` larger steps (projected from
    ``p.capped_batches`` of them); save the model as a servable checkpoint.

    The steps are ``gnn.train``'s: a permutation and one uniform negative per training pair
    for the whole epoch, then per batch :func:`gnn.train.train_step` (forward, BPR + L2 on
    the layer-0 rows, backward, an Adam step).
    """
    import torch

    from gnn.checkpoint import save_checkpoint, to_checkpoint
    from gnn.config import TrainConfig
    from gnn.data import TrainData
    from gnn.train import (
        BatchObjective,
        EpochRecord,
        NegativeSampler,
        Replicas,
        TrainResult,
        build_model,
        train_step,
    )
    from graph.snapshot import read_snapshot

    config = TrainConfig()  # lightgcn, dim 64, 3 layers, batch 4096
    started = time.perf_counter()
    data = TrainData.from_snapshot(
        read_snapshot(root / SNAPSHOT), seed=config.seed, kinds=config.kinds, ratios=config.ratios
    )
    split_s = time.perf_counter() - started
    generator = torch.Generator().manual_seed(config.seed)
    replicas = Replicas(p.device)
    started = time.perf_counter()
    model, graphs = build_model(config, data)
    model.reset_parameters(generator=generator)
    model.to(replicas.device)
    graphs = tuple(g.to(replicas.device) for g in graphs)
    build_s = time.perf_counter() - started
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    objective = BatchObjective(model, graphs, config.reg_weight, generator)
    sampler = NegativeSampler(data.train_user, data.train_item, data.num_items)

    def step(start: int, size: int) -> float:  # returns the loss as a float: synchronises
        rows = slice(start, start + size)
        return train_step(objective, optimizer, users[rows], pos[rows], neg[rows], replicas)

    def timed_epoch(size: int, most: int) -> tuple[float, int, int, list[float]]:
        """Seconds per ``size`` step, steps per epoch, steps timed, their losses."""
        per_epoch = math.ceil(n / size)
        first = 1 if per_epoch > most else 0
        if first:
            step(0, size)  # warm-up: first-call allocations are not part of the steady state
        timed = range(first, min(per_epoch, first + most))
        started = time.perf_counter()
        losses = [step(b * size, size) for b in timed]
        return (time.perf_counter() - started) / len(timed), per_epoch, len(timed), losses

    objective.train()
    n = data.train_user.numel()
    started = time.perf_counter()
    perm = torch.randperm(n, generator=generator)
    users, pos = data.train_user[perm], data.train_item[perm]
    neg = sampler.sample(users, generator)
    users, pos, neg = (t.to(replicas.device) for t in (users, pos, neg))
    sample_s = time.perf_counter() - started
    per_batch, per_epoch, timed, losses = timed_epoch(config.batch_size, p.train_batches)
    epoch_s = sample_s + per_batch * per_epoch
    capped = replace(config, steps_per_epoch=p.steps_per_epoch).epoch_batch_size(n)
    per_capped, capped_steps, capped_timed, _ = timed_epoch(capped, p.capped_batches)

    model.eval()
    with torch.no_grad():
        emb = model.get_embedding(*graphs).cpu()
    gpu_peak_mb = torch.cuda.max_memory_allocated() / 2**20 if p.device == "cuda" else None
    model.cpu()
    result = TrainResult(
        model=model,
        data=data,
        config=config,
        history=[EpochRecord(1, sum(losses) / len(losses), epoch_s)],
        best_epoch=1,
        valid_metrics={},
        test_metrics={},
        user_embeddings=emb[: data.num_users].clone(),
        item_embeddings=emb[data.num_users :].clone(),
    )
    save_checkpoint(to_checkpoint(result), root / CHECKPOINT)
    return {
        "cost": epoch_s,
        "projected": timed < per_epoch,
        "per_batch_s": per_batch,
        "timed_batches": timed,
        "batches_per_epoch": per_epoch,
        "capped_epoch_s": sample_s + per_capped * capped_steps,
        "capped_batch_size": capped,
        "capped_steps": capped_steps,
        "capped_timed_steps": capped_timed,
        "capped_per_step_s": per_capped,
        "negatives_s": sample_s,
        "split_s": split_s,
        "build_graph_s": build_s,
        "train_pairs": n,
        "threads": torch.get_num_threads(),
        "device": p.device,
        "gpu_peak_mb": gpu_peak_mb,
    }


def stage_eval(root: Path, p: Params) -> dict[str, Any]:
    """Full-ranking evaluation of the saved embeddings on the test split."""
    from gnn.checkpoint import checkpoint_data, load_checkpoint
    from gnn.config import TrainConfig
    from gnn.evaluate import evaluate
    from graph.snapshot import read_snapshot

    checkpoint = load_checkpoint(root / CHECKPOINT)
    data = checkpoint_data(checkpoint, read_snapshot(root / SNAPSHOT))
    config = TrainConfig.from_dict(checkpoint.train_config)
    started = time.perf_counter()
    metrics = evaluate(
        checkpoint.user_embeddings,
        checkpoint.item_embeddings,
        data,
        "test",
        config.ks,
        batch_size=config.eval_batch_size,
    )
    return {
        "cost": time.perf_counter() - started,
        "test_users": int(np.unique(data.test_user.numpy()).shape[0]),
        "ndcg@10": metrics["ndcg@10"],
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reap(pid: int, timeout_s: float) -> tuple[int, resource.struct_rusage] | None:
    """``os.wait4`` the child ``pid`` for up to ``timeout_s``: (wait status, rusage) or None."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _signal(pid: int, sig: signal.Signals, group: bool) -> None:
    """Send ``sig`` to ``pid`` (or to its process group), ignoring one already gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stop(proc: subprocess.Popen[bytes], group: bool) -> tuple[int, resource.struct_rusage]:
    """SIGTERM ``proc`` (its process group when ``group``), SIGKILL after a grace period; reap."""

    _signal(proc.pid, signal.SIGTERM, group)
    reaped = _reap(proc.pid, _GRACE_S)
    if reaped is None:
        _signal(proc.pid, signal.SIGKILL, group)
        reaped = _reap(proc.pid, _GRACE_S)
    if reaped is None:
        raise RuntimeError(f"process {proc.pid} survived SIGKILL")
    proc.returncode = os.waitstatus_to_exitcode(reaped[0])
    return reaped


def _clean_env(**values: str) -> dict[str, str]:
    """The environment without inherited ``SOCIALREC_*`` settings, plus ``values``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SOCIALREC_")} | values


def _sample_users(root: Path, count: int, seed: int) -> list[str]:
    with (root / INPUT / "users.csv").open(encoding="utf-8", newline="") as handle:
        ids = [row[0] for row in csv.reader(handle)][1:]
    chosen = np.random.default_rng(seed).choice(len(ids), size=count, replace=True)
    return [ids[int(i)] for i in chosen]


def stage_serve(root: Path, p: Params) -> dict[str, Any]:
    """p99 of sequential recommendation requests to a real ``socialrec serve`` process."""
    import httpx

    port = _free_port()
    env = _clean_env(
        SOCIALREC_WORK_DIR=str(root),
        SOCIALREC_STORE="sqlite",
        SOCIALREC_SERVING_THREADS="1",
        SOCIALREC_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
    )
    command = [sys.executable, "-m", "socialrec.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--threads", "1"]
    log = root / "serve.log"
    base = f"http://127.0.0.1:{port}"
    users = _sample_users(root, p.warmup + p.requests, p.seed)
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        started = time.perf_counter()
        with httpx.Client(base_url=base, timeout=30.0) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}; see {log}")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            startup_s = time.perf_counter() - started
            latencies, errors = [], 0
            for n, user in enumerate(users):
                t0 = time.perf_counter()
                response = client.get(f"/api/v1/users/{user}/recommendations", params={"k": 10})
                if n >= p.warmup:
                    latencies.append(time.perf_counter() - t0)
                    errors += response.status_code != 200
    finally:
        _, usage = _stop(proc, group=False)
    lat = np.asarray(latencies)
    return {
        "cost": float(np.percentile(lat, 99)),
        "p50_s": float(np.percentile(lat, 50)),
        "mean_s": float(lat.mean()),
        "requests": int(lat.shape[0]),
        "errors": errors,
        "startup_s": startup_s,
        "server_peak_mb": usage.ru_maxrss / 1024,
    }


def _influence_graph(root: Path) -> Any:
    from graph.reach import InfluenceGraph, weighted_cascade
    from graph.snapshot import read_snapshot

    return weighted_cascade(InfluenceGraph.from_snapshot(read_snapshot(root / SNAPSHOT)))


def stage_reach(root: Path, p: Params) -> dict[str, Any]:
    """Monte-Carlo reach of the most-followed users (weighted cascade)."""
    from graph.reach import estimate_reach, top_followers

    graph = _influence_graph(root)
    seeds = top_followers(graph, p.reach_seeds).tolist()
    estimate_reach(graph, seeds, simulations=2, seed=p.seed, jobs=p.threads)  # numba warm-up
    started = time.perf_counter()
    est = estimate_reach(graph, seeds, simulations=p.simulations, seed=p.seed, jobs=p.threads)
    return {
        "cost": time.perf_counter() - started,
        "reach_mean": est.reach.mean,
        "graph_edges": int(graph.num_edges),
    }


def stage_plan(root: Path, p: Params) -> dict[str, Any]:
    """IMM campaign plan for ``p.plan_k`` influencers (weighted cascade)."""
    from graph.reach import InfluenceGraph, plan_campaign, uniform

    tiny = uniform(InfluenceGraph.from_edges([0, 1, 2], [1, 2, 0], 3), 0.5)
    plan_campaign(tiny, k=1, simulations=2, seed=p.seed, jobs=p.threads)  # numba warm-up
    graph = _influence_graph(root)
    started = time.perf_counter()
    plan = plan_campaign(graph, k=p.plan_k, seed=p.seed, jobs=p.threads)
    return {
        "cost": time.perf_counter() - started,
        "rr_sets": plan.rr_sets,
        "ratio_vs_top_followers": plan.ratio,
        "reach_mean": plan.estimate.reach.mean,
    }


STAGES: Final[dict[str, Callable[[Path, Params], dict[str, Any]]]] = {
    "generate": stage_generate,
    "load_sqlite": stage_load_sqlite,
    "load_bolt": stage_load_bolt,
    "export": stage_export,
    "train": stage_train,
    "eval": stage_eval,
    "serve": stage_serve,
    "reach": stage_reach,
    "plan": stage_plan,
}


def _child(stage: str, root: Path, params: Params) -> None:
    """Entry point of a stage's child process (threads come from ``OMP_NUM_THREADS``, set by
    :func:`run_stage`): run it, write ``<root>/<stage>.json``."""
    out = STAGES[stage](root, params)
    out["self_peak_mb"] = _peak_self_mb()
    (root / f"{stage}.json").write_text(json.dumps(out), encoding="utf-8")


# -- the parent: one child per stage, with a timeout and cleanup -------------------------------


def run_stage(stage: str, root: Path, params: Params, timeout_s: float) -> StageRecord:
    """Run ``stage`` in a child process (its own process group) and collect its figures."""
    result = root / f"{stage}.json"
    result.unlink(missing_ok=True)
    threads = str(params.threads)
    env = os.environ | {
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "NUMBA_NUM_THREADS": threads,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "benchmarks.growth", "--stage", stage, "--root", str(root)]
    command += ["--params", json.dumps(asdict(params))]
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    proc = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    reaped = None
    try:
        reaped = _reap(proc.pid, timeout_s)
    finally:
        timed_out = reaped is None
        if timed_out:  # also on Ctrl-C: the whole group (child, servers) goes
            reaped = _stop(proc, group=True)
    assert reaped is not None
    status, usage = reaped
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    peak = usage.ru_maxrss / 1024
    load = (load_before, os.getloadavg()[0])
    if timed_out:
        note = f"no result after {timeout_s:.0f} s"
        return StageRecord(stage, "timeout", None, peak, wall, note, loadavg=load)
    if code != 0 or not result.is_file():
        _signal(proc.pid, signal.SIGKILL, group=True)  # what a crashed stage left running
        return StageRecord(stage, "failed", None, peak, wall, f"exit status {code}", loadavg=load)
    detail = json.loads(result.read_text(encoding="utf-8"))
    cost = float(detail.pop("cost"))
    return StageRecord(stage, "ok", cost, peak, wall, detail=detail, loadavg=load)


def stage_needs(snapshot_from: str = "store") -> dict[str, str | None]:
    """:data:`STAGE_NEEDS`, where a snapshot built from the world needs only generate."""
    return STAGE_NEEDS | ({"export": "generate"} if snapshot_from == "world" else {})


def with_needs(stages: Iterable[str], needs: dict[str, str | None] = STAGE_NEEDS) -> set[str]:
    """``stages`` and every stage they need, transitively."""
    out: set[str] = set()
    for stage in stages:
        need: str | None = stage
        while need is not None and need not in out:
            out.add(need)
            need = needs[need]
    return out


def run_size(
    params: Params,
    root: Path,
    bolt_max_users: int,
    timeout_s: float,
    save: Callable[[], None],
    stages: Iterable[str] = STAGE_NEEDS,
) -> Iterator[StageRecord]:
    """Run ``stages`` (and the stages they need) for one size, yielding each record as it
    completes; the other stages are recorded as skipped."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    needs = stage_needs(params.snapshot_from)
    selected = with_needs(stages, needs)
    done: dict[str, StageRecord] = {}
    for stage, need in needs.items():
        if stage not in selected:
            record = StageRecord(stage, "skipped", note="not selected (--stages)")
        elif stage == "load_bolt" and params.users > bolt_max_users:
            record = StageRecord(
                stage, "skipped", note=f"users {params.users:,} > --bolt-max-users"
            )
        elif need is not None and done[need].status != "ok":
            record = StageRecord(stage, "skipped", note=f"needs {need} ({done[need].status})")
        else:
            print(f"[{params.users:,} users] {stage} ...", flush=True)
            record = run_stage(stage, root, params, timeout_s)
        done[stage] = record
        print(f"[{params.users:,} users] {stage}: {_describe(record)}", flush=True)
        yield record
        save()


def _describe(record: StageRecord) -> str:
    if record.status != "ok":
        return f"{record.status.upper()} {record.note}".rstrip()
    return f"{_cell(record)} (wall {record.wall_s:.1f} s)"


# -- figures: exponents, table, plot, RESULT ---------------------------------------------------


def fit_exponent(edges: Sequence[float], costs: Sequence[float]) -> float:
    """Least-squares slope of ``log(cost)`` on ``log(edges)`` (the growth exponent).

    With two sizes this is the slope between them; ``nan`` with fewer than two distinct sizes.

    Raises:
        ValueError: if the lengths differ or a value is not positive.
    """
    if len(edges) != len(costs):
        raise ValueError(f"edges and costs must have equal lengths, got {len(edges)}, {len(costs)}")
    if any(not v > 0 for v in (*edges, *costs)):
        raise ValueError(f"edges and costs must be > 0, got {list(edges)}, {list(costs)}")
    if len(set(edges)) < 2:
        return math.nan
    return float(np.polyfit(np.log(edges), np.log(costs), 1)[0])


def memory_per_million_edges(edges: Sequence[float], mb: Sequence[float]) -> tuple[float, float]:
    """(slope in MB per million edges, intercept in MB) of peak MB on edges; nan below 2 sizes."""
    if len(set(edges)) < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.asarray(edges) / 1e6, np.asarray(mb), 1)
    return float(slope), float(intercept)


def _ok(size: SizeResult, stage: str) -> bool:
    record = size.stages.get(stage)
    return record is not None and record.status == "ok"


def _series(
    results: Sequence[SizeResult], name: str
) -> tuple[list[float], list[float], list[float]]:
    """(edges, cost, peak MB) of a stage or a :data:`DERIVED` figure, sizes where it succeeded."""
    stage, key = DERIVED[name][:2] if name in DERIVED else (name, None)
    rows = []
    for size in results:
        if size.edges and _ok(size, stage):
            record = size.stages[stage]
            cost = record.cost if key is None else record.detail[key]
            rows.append((float(size.edges), float(cost or math.nan), record.peak_mb or math.nan))
    return [e for e, _, _ in rows], [c for _, c, _ in rows], [m for _, _, m in rows]


def exponents(results: Sequence[SizeResult]) -> dict[str, float]:
    """Growth exponent of every stage's cost and derived figure (``nan`` below two sizes)."""
    out = {}
    for name in (*STAGE_NEEDS, *DERIVED):
        edges, costs, _ = _series(results, name)
        out[name] = fit_exponent(edges, costs)
    return out


def memory_slopes(results: Sequence[SizeResult]) -> dict[str, tuple[float, float]]:
    """Per stage: (MB per million edges, fixed MB) of its peak memory."""
    out = {}
    for stage in STAGE_NEEDS:
        edges, _, peaks = _series(results, stage)
        out[stage] = memory_per_million_edges(edges, peaks)
    return out


def _seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 100 else f"{value:.3g} s"


def _cell(record: StageRecord) -> str:
    if record.status != "ok" or record.cost is None:
        return record.status
    if record.stage == "serve":
        value = f"{record.cost * 1e3:.1f} ms"
    else:
        value = _seconds(record.cost) + (" proj" if record.detail.get("projected") else "")
    return f"{value} / {record.peak_mb:,.0f} MB"


def format_table(results: Sequence[SizeResult]) -> str:
    """Stages x sizes: cost / peak MB per cell, plus the exponent and MB per million edges."""
    fits, memory = exponents(results), memory_slopes(results)
    header = ["stage (cost)"] + [f"{r.users:,} users" for r in results] + ["exp", "MB/M edges"]
    rows = [["edges"] + [f"{r.edges:,}" if r.edges else "-" for r in results] + ["", ""]]
    for stage in STAGE_NEEDS:
        cells = [_cell(r.stages[stage]) if stage in r.stages else "-" for r in results]
        slope = memory[stage][0]
        mb = "nan" if math.isnan(slope) else f"{slope:,.0f}"
        rows.append([f"{stage} ({COST_LABELS[stage]})", *cells, f"{fits[stage]:.2f}", mb])
    for name, (stage, key, label) in DERIVED.items():
        cells = [_seconds(r.stages[stage].detail[key]) if _ok(r, stage) else "-" for r in results]
        rows.append([f"{name} ({label})", *cells, f"{fits[name]:.2f}", ""])
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _detail(size: SizeResult, stage: str, key: str) -> float:
    record = size.stages.get(stage)
    if record is None or record.status != "ok":
        return math.nan
    return float(record.detail.get(key, math.nan))


def loading_figures(results: Sequence[SizeResult]) -> dict[str, float]:
    """Rows loaded per second into SQLite and the loader's peak MB at each size; at the
    largest size with a load: that rate (``load_rows_per_s``), the row-by-row baseline's
    (``nan`` unless run), the export's seconds and its speedup over the baseline export."""
    figures: dict[str, float] = {}
    for size in results:
        figures[f"load_rows_per_s_{size.users}"] = _detail(size, "load_sqlite", "rows_per_s")
        figures[f"load_peak_mb_{size.users}"] = _detail(size, "load_sqlite", "load_peak_mb")
    loaded = [s for s in results if _ok(s, "load_sqlite")] or list(results[-1:])
    exported = [s for s in results if _ok(s, "export")] or list(results[-1:])
    largest, last_export = loaded[-1:], exported[-1:]
    figures["load_rows_per_s"] = (
        _detail(largest[0], "load_sqlite", "rows_per_s") if largest else math.nan
    )
    figures["load_baseline_rows_per_s"] = (
        _detail(largest[0], "load_sqlite", "baseline_rows_per_s") if largest else math.nan
    )
    export = last_export[0].stages.get("export") if last_export else None
    figures["export_s"] = export.cost if export and export.cost is not None else math.nan
    figures["export_speedup"] = (
        _detail(last_export[0], "export", "speedup") if last_export else math.nan
    )
    return figures


def result_line(results: Sequence[SizeResult]) -> str:
    """``RESULT exp_<stage>=... exp_train_batch=... load_rows_per_s_<users>=...
    load_peak_mb_<users>=... load_rows_per_s=... load_baseline_rows_per_s=... export_s=...
    export_speedup=... sizes=... edges_max=...``."""
    fits = exponents(results)
    parts = [f"{key}={fits[name]:.3f}" for name, key in RESULT_KEYS.items()]
    for key, value in loading_figures(results).items():
        parts.append(
            f"{key}={value:.2f}" if "speedup" in key or key == "export_s" else f"{key}={value:.0f}"
        )
    sizes = ",".join(str(r.users) for r in results)
    edges_max = max((r.edges or 0 for r in results), default=0)
    return "RESULT " + " ".join(parts) + f" sizes={sizes} edges_max={edges_max}"


def plot(results: Sequence[SizeResult], path: Path, title: str) -> None:
    """Log-log cost and peak memory against edges, one line per stage (and derived figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.5), layout="constrained")
    cost_ax, mem_ax = fig.subplots(1, 2)
    labels = {s: COST_LABELS[s].replace("p99 ms", "p99 s") for s in STAGE_NEEDS}
    for name in (*STAGE_NEEDS, *DERIVED):
        edges, costs, peaks = _series(results, name)
        if not edges:
            continue
        label = DERIVED[name][2] if name in DERIVED else labels[name]
        style = "--" if name in DERIVED else "-"
        cost_ax.plot(edges, costs, style, marker="o", label=f"{name} ({label})")
        if name in STAGE_NEEDS:
            mem_ax.plot(edges, peaks, marker="o", label=name)
    for ax, ylabel in ((cost_ax, "seconds"), (mem_ax, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges (interactions + social rows)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    cost_ax.set_title("time per stage")
    mem_ax.set_title("peak memory of the stage's processes")
    cost_ax.legend(fontsize=8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def save_json(results: Sequence[SizeResult], path: Path, meta: dict[str, Any]) -> None:
    """Raw figures: the run's settings, every record, the exponents and memory slopes."""
    payload = {
        "meta": meta,
        "sizes": [asdict(r) for r in results],
        "exponents": exponents(results),
        "memory_mb_per_million_edges": {
            stage: {"slope": s, "intercept": i} for stage, (s, i) in memory_slopes(results).items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n", encoding="utf-8")


def load_json(path: Path) -> tuple[list[SizeResult], dict[str, Any]]:
    """The records and settings of a run saved by :func:`save_json`."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    results = [
        SizeResult(
            size["users"],
            size["edges"],
            size["counts"],
            {name: StageRecord(**record) for name, record in size["stages"].items()},
        )
        for size in payload["sizes"]
    ]
    return results, payload["meta"]


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the cleanup of Ctrl-C also runs on ``kill``."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated integers, got {text!r}"
        ) from None
    if not sizes or any(n < 100 for n in sizes):
        raise argparse.ArgumentTypeError(f"--sizes must be integers >= 100, got {text!r}")
    return sorted(set(sizes))


def _stages(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGE_NEEDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown stage(s) {unknown or text!r}; choose from {', '.join(STAGE_NEEDS)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run a stage (child) or the whole benchmark (parent); RESULT last."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--items", type=int, default=Params.items, help="Catalogue size (fixed).")
    parser.add_argument("--bolt-max-users", type=int, default=100_000)
    parser.add_argument("--train-batches", type=int, default=Params.train_batches)
    parser.add_argument("--steps-per-epoch", type=int, default=Params.steps_per_epoch)
    parser.add_argument("--capped-batches", type=int, default=Params.capped_batches)
    parser.add_argument("--requests", type=int, default=Params.requests)
    parser.add_argument("--threads", type=int, default=Params.threads)
    parser.add_argument("--seed", type=int, default=Params.seed)
    parser.add_argument("--timeout", type=float, default=3600.0, help="Seconds per stage.")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench" / "growth")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "growth.png")
    parser.add_argument("--keep", action="store_true", help="Keep each size's data.")
    parser.add_argument(
        "--stages",
        type=_stages,
        default=list(STAGE_NEEDS),
        help="Comma-separated stages to run (with the stages they need) [default: all].",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=Params.device,
        help="Where the train stage trains (cuda: one GPU).",
    )
    parser.add_argument(
        "--snapshot-from",
        choices=["store", "world"],
        default=Params.snapshot_from,
        help="export: from the SQLite store, or straight from the generated world (no store).",
    )
    parser.add_argument(
        "--no-export-baseline",
        dest="export_baseline",
        action="store_false",
        help="export: skip timing the tuple-sorting export it replaced (export_speedup nan).",
    )
    parser.add_argument(
        "--load-baseline",
        action="store_true",
        help="load_sqlite: also time the row-by-row loader it replaced (load_baseline_rows_per_s).",
    )
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument(
        "--report", type=Path, help="Re-print the table, plot and RESULT of a saved JSON only."
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        report(*load_json(args.report), args.report.with_suffix(".png"))
        return 0
    if args.stage is not None:
        if args.root is None or args.params is None:
            parser.error("--stage needs --root and --params")
        _child(args.stage, args.root, Params(**json.loads(args.params)))
        return 0
    for name in (
        "items",
        "train_batches",
        "steps_per_epoch",
        "capped_batches",
        "requests",
        "threads",
        "timeout",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no GPU (torch.cuda.is_available() is False)")

    meta = {
        "sizes": args.sizes,
        "items": args.items,
        "threads": args.threads,
        "train_batches": args.train_batches,
        "steps_per_epoch": args.steps_per_epoch,
        "capped_batches": args.capped_batches,
        "requests": args.requests,
        "bolt_max_users": args.bolt_max_users,
        "stages": sorted(
            with_needs(args.stages, stage_needs(args.snapshot_from)), key=list(STAGE_NEEDS).index
        ),
        "device": args.device,
        "snapshot_from": args.snapshot_from,
        "export_baseline": args.export_baseline,
        "load_baseline": args.load_baseline,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    print(
        f"growth: sizes {args.sizes}, {args.items:,} items, {args.threads} threads, "
        f"train on {args.device}, snapshot from the {args.snapshot_from}"
    )
    print(f"work: {args.work}", flush=True)
    skipped = [n for n in args.sizes if n > args.bolt_max_users]
    if skipped:
        print(
            f"load_bolt skipped at {skipped}: above --bolt-max-users {args.bolt_max_users:,} "
            "(the local ArcadeDB runs with -Xmx1g and loads row batches over Bolt; minutes per "
            "million rows)"
        )
    results: list[SizeResult] = []
    json_path = args.out.with_suffix(".json")

    def save() -> None:
        save_json(results, json_path, meta)

    interrupted = False
    with _sigterm_as_interrupt():
        try:
            for users in args.sizes:
                params = Params(
                    users=users,
                    items=args.items,
                    seed=args.seed,
                    threads=args.threads,
                    train_batches=args.train_batches,
                    steps_per_epoch=args.steps_per_epoch,
                    capped_batches=args.capped_batches,
                    requests=args.requests,
                    device=args.device,
                    snapshot_from=args.snapshot_from,
                    export_baseline=args.export_baseline,
                    load_baseline=args.load_baseline,
                )
                size = SizeResult(users)
                results.append(size)
                root = args.work / f"u{users}"
                try:
                    records = run_size(
                        params, root, args.bolt_max_users, args.timeout, save, args.stages
                    )
                    for record in records:
                        size.stages[record.stage] = record
                        if record.stage == "generate" and record.status == "ok":
                            size.edges = int(record.detail["edges"])
                            size.counts = dict(record.detail["counts"])
                finally:
                    if not args.keep:
                        shutil.rmtree(root, ignore_errors=True)
        except KeyboardInterrupt:
            interrupted = True
            print("interrupted: stage processes stopped; partial figures follow", flush=True)
    save()
    report(results, meta, args.out)
    return 130 if interrupted else 0


def report(results: Sequence[SizeResult], meta: dict[str, Any], out: Path) -> None:
    """Print the table, save the plot to ``out`` and print the RESULT line last."""
    print()
    print(format_table(results))
    print(
        "cost: time as labelled; 'proj' = projected from timed batches; peak MB = max RSS of "
        "the stage's processes; exp = growth exponent of the cost in edges; MB/M edges = "
        "least-squares slope of peak MB on edges"
    )
    loads = [v for r in results for s in r.stages.values() if s.loadavg for v in s.loadavg]
    if loads:
        print(
            f"machine load (1-min load average at stage starts and ends): {min(loads):.1f} to "
            f"{max(loads):.1f} on {meta.get('cpus')} CPUs; above the CPU count, other work "
            "shared the cores and times are inflated"
        )
    plot(results, out, f"socialrec growth, {meta['threads']} threads, {meta['items']:,} items")
    print(f"figures: {out}, {out.with_suffix('.json')}")
    print(result_line(results))


if __name__ == "__main__":
    sys.exit(main())
