"""Data-parallel training on ``torch.distributed``: one model replica per process.

Every process of the group loads the snapshot, builds the same split, graphs and initial
weights from ``config.seed`` and draws the same permutations, negatives and contrastive noise
from its own copy of the seeded generator, so all processes walk through the same global
batches of ``config.batch_size`` triples as single-process training does. Process ``r`` of
``W`` scores the ``r``-th contiguous slice of each batch (rows ``r * B // W`` to
``(r + 1) * B // W``: the slices differ by at most one triple, and a batch smaller than ``W``,
possibly the last one, leaves some processes an empty slice). Its loss is its share of the
batch-mean BPR + L2 loss, weighted by its slice's size (:class:`gnn.train.BatchObjective`),
times ``W``, plus the contrastive loss of the whole batch (social model); it runs under
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients over the
processes. The average is the gradient of the whole batch's loss, so every process takes the
single-process optimiser step, up to floating-point rounding, uneven slices included, with no
padding and no dropped triples.

The replicas therefore stay identical: every process evaluates its own on the validation split
and the first process's stop decision is broadcast, so all stop at the same epoch. Callers print
progress and write the checkpoint on rank 0 only (see ``socialrec train --nproc``).

Cost: each process holds the whole graph and propagates it in full on every step (its slice's
scores need all embeddings), and computes the contrastive loss of the whole batch, so W
processes repeat the per-step propagation W times; what they split is the pair scoring, the BPR
and L2 terms and the gradient of their slice, and the gradients are all-reduced (one dense
``[U + I, d]`` tensor per step). See docs/distributed-training.md for measured figures.

Backends: ``gloo`` on CPU, ``nccl`` on CUDA (one GPU per process, ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from gnn import threads
from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.train import BatchObjective, Replicas, TrainProgress, TrainResult, train
from graph.snapshot import Snapshot

#: Devices a process group can train on.
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: How long a process waits for the others (start-up, collectives) before failing.
TIMEOUT = timedelta(minutes=10)


class DataParallel(Replicas):
    """The processes of the initialised default process group, one replica each.

    Attributes:
        rank: this process's rank; world_size: the group's size; device: ``cuda:LOCAL_RANK``
            with nccl, else the CPU.

    Raises:
        RuntimeError: if no process group is initialised.
    """

    def __init__(self) -> None:
        if not dist.is_initialized():
            raise RuntimeError(
                "no torch.distributed process group: run under torchrun or through spawn()"
            )
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.device = _group_device()

    def wrap(self, objective: BatchObjective) -> torch.nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(objective, device_ids=ids)

    def shard(self, rows: int) -> slice:
        return slice(self.rank * rows // self.world_size, (self.rank + 1) * rows // self.world_size)

    def sum(self, value: float) -> float:
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return float(total.item())

    def agree(self, flag: bool) -> bool:
        value = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())


def launched_by_torchrun() -> bool:
    """Whether this process was started by torchrun (``torch.distributed.run``)."""
    return dist.is_torchelastic_launched()


def backend(device: str) -> str:
    """The ``torch.distributed`` backend for ``device``: gloo on CPU, nccl on CUDA.

    Raises:
        ValueError: if ``device`` is not in :data:`DEVICES`, or is ``"cuda"`` and torch sees
            no GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was requested but torch sees no GPU (torch.cuda.is_available() is "
            "False); train on 'cpu' or install a CUDA build of torch"
        )
    return "nccl" if device == "cuda" else "gloo"


def local_rank() -> int:
    """This process's index on its machine (``LOCAL_RANK``, as torchrun and :func:`spawn` set)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def _group_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def default_threads() -> int:
    """torch threads per process: the CPUs available (:func:`gnn.threads.default_threads`:
    affinity and cgroup quota) shared by this machine's processes (``LOCAL_WORLD_SIZE``)."""
    return threads.default_threads(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def train_distributed(
    source: Snapshot | TrainData,
    config: TrainConfig | None = None,
    progress: TrainProgress | None = None,
) -> TrainResult:
    """Train as one process of the initialised default process group; every process of the
    group calls this with the same ``source`` and ``config``.

    Each returns the same result (identical replicas); keep rank 0's. ``config.num_threads``
    defaults to :func:`default_threads`.

    Raises:
        RuntimeError: if no process group is initialised.
        ValueError: as :func:`gnn.train.train`.
    """
    replicas = DataParallel()
    config = config or TrainConfig()
    if config.num_threads is None:
        config = replace(config, num_threads=default_threads())
    return train(source, config, progress, replicas)


def run(fn: Callable[..., Any], args: tuple[Any, ...] = (), device: str = "cpu") -> None:
    """Join the process group that torchrun describes (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``), run ``fn(*args)`` and leave it.

    Raises:
        ValueError: for an unknown or unavailable ``device`` (see :func:`backend`).
    """
    _in_group(fn, args, backend(device))


def spawn(
    nproc: int, fn: Callable[..., Any], args: tuple[Any, ...] = (), device: str = "cpu"
) -> None:
    """Run ``fn(*args)`` in ``nproc`` new processes on this machine that form one process
    group (ranks ``0..nproc-1``), and wait for them.

    ``fn`` must be importable by name (a module-level function): the processes are started
    with the ``spawn`` method. They meet at a TCP store this process opens on a free loopback
    port. If one fails, the others are stopped.

    Raises:
        ValueError: if ``nproc < 1``, ``device`` is unknown or unavailable, or there are fewer
            GPUs than processes.
        torch.multiprocessing.ProcessRaisedException: if ``fn`` raised in a process (the
            message holds its traceback).
        torch.multiprocessing.ProcessExitedException: if a process died.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    name = backend(device)
    if name == "nccl" and torch.cuda.device_count() < nproc:
        raise ValueError(
            f"nproc={nproc} processes need as many GPUs, torch sees {torch.cuda.device_count()}"
        )
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=TIMEOUT)
    mp.spawn(_spawned, args=(nproc, store.port, name, fn, args), nprocs=nproc, join=True)


def _spawned(
    rank: int,
    world_size: int,
    port: int,
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    """Entry point of a :func:`spawn` process: join the group as ``rank``, run ``fn``."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT)
    _in_group(fn, args, name, store=store, rank=rank, world_size=world_size)


def _in_group(fn: Callable[..., Any], args: tuple[Any, ...], name: str, **init: Any) -> None:
    """Join the process group with backend ``name`` (``init``: where to meet; the environment
    when empty), run ``fn(*args)``, leave it."""
    if name == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(name, timeout=TIMEOUT, **init)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()
