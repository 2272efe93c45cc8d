"""The serving state: everything the lifespan loads once and routes read."""

from __future__ import annotations

import functools
import gc
import logging
import sqlite3
import time
from dataclasses import dataclass

import numpy as np
import torch

from gnn.checkpoint import Checkpoint, load_checkpoint
from gnn.threads import available_cpus
from graph.reach.estimate import Model, estimate_reach
from graph.reach.influence_graph import InfluenceGraph, lt_normalized, uniform
from graph.reach.plan import plan_campaign
from graph.snapshot import Snapshot, read_snapshot
from graph.store import StoreUnavailableError
from serving.attribution import ServeRecorder
from serving.events import ImpressionLog, StoreGateway
from serving.live import LiveGraph, carry_over
from serving.profile import ProfileService
from serving.reach import ReachService
from serving.reach_model import load_reach_model
from serving.recommender import RecommenderService
from serving.settings import Settings
from serving.social import SocialRecommender
from serving.stores import open_store

_log = logging.getLogger(__name__)


class StateLoadError(RuntimeError):
    """The service cannot start: a snapshot or checkpoint is missing or inconsistent."""


@dataclass(frozen=True, slots=True)
class AppState:
    """Loaded artifacts shared by all requests; only ``live`` (own lock) changes after load."""

    settings: Settings
    snapshot: Snapshot
    checkpoint: Checkpoint
    recommender: RecommenderService
    reach: ReachService
    #: The snapshot plus live changes (events, deletions); mutable, with its own lock.
    live: LiveGraph
    social: SocialRecommender
    profiles: ProfileService
    #: Store handle for writes (shared across reloads); ``None``: writes answer 503.
    store: StoreGateway | None = None
    #: Feed impressions for frequency caps (shared across reloads).
    impressions: ImpressionLog | None = None
    #: Serve ids and the serve log (shared across reloads); ``None``: serve log off.
    serves: ServeRecorder | None = None


def load_state(
    settings: Settings,
    *,
    store: StoreGateway | None = None,
    impressions: ImpressionLog | None = None,
    serves: ServeRecorder | None = None,
    carry: AppState | None = None,
) -> AppState:
    """Set torch threads, then load the snapshot and checkpoint named by ``settings``.

    ``torch.set_num_threads(settings.serving_threads)`` is process-wide and deliberate: BLAS
    threads inside the server's threadpool oversubscribe small machines. It is capped by the
    CPUs this process may use (:func:`gnn.threads.available_cpus`: affinity, cgroup quota).

    ``store``, ``impressions`` and ``serves`` are handed to the new state as they are. With
    ``carry`` (the state being replaced by a reload) its live changes are re-applied
    (:func:`serving.live.carry_over`) and the users they touch folded in again.

    Raises:
        StateLoadError: with the paths and the reason, if an artifact is missing, unreadable
            or the two disagree on users/items.
    """
    torch.set_num_threads(min(settings.serving_threads, available_cpus()))
    snapshot_dir = settings.resolved_snapshot_dir
    checkpoint_path = settings.resolved_checkpoint_path
    try:
        snapshot = read_snapshot(snapshot_dir)
        checkpoint = load_checkpoint(checkpoint_path)
        recommender = RecommenderService.from_artifacts(snapshot, checkpoint)
        live = LiveGraph(snapshot)
        reach = ReachService(
            snapshot,
            checkpoint,
            live=live,
            reach_model=load_reach_model(settings.resolved_reach_dir),
        )
    except ValueError as exc:  # SnapshotError, CheckpointError, ArtifactMismatchError
        raise StateLoadError(
            f"cannot start the API (snapshot {snapshot_dir}, checkpoint {checkpoint_path}): "
            f"{exc}. Set SOCIALREC_SNAPSHOT_DIR / SOCIALREC_CHECKPOINT_PATH or "
            "--snapshot / --checkpoint."
        ) from exc
    social = SocialRecommender(
        live,
        recommender,
        social_boost=settings.social_boost,
        max_reason_users=settings.max_reason_users,
        candidates=settings.candidates,
        candidate_users=settings.candidate_users,
    )
    if carry is not None:
        for user_id, items in carry_over(carry.live, live).items():
            social.fold_in_user(user_id, items)
    warm_reach_kernels()
    return AppState(
        settings=settings,
        snapshot=snapshot,
        checkpoint=checkpoint,
        recommender=recommender,
        reach=reach,
        live=live,
        social=social,
        profiles=ProfileService(live),
        store=store,
        impressions=impressions,
        serves=serves,
    )


@functools.cache
def warm_reach_kernels() -> float:
    """Run the reach and planning kernels once on a 4-user toy graph (IC and LT, with an
    affinity, and a one-seed plan), so that numba compiles them (or loads its disk cache)
    here, once per process, rather than inside a request's reach time limit. Logs and returns
    the seconds it took; later calls return that figure without running anything."""
    started = time.perf_counter()
    toy = InfluenceGraph.from_edges([0, 1, 2, 0], [1, 2, 3, 3], 4)
    ic = uniform(toy, 0.5)
    lt = lt_normalized(ic)
    affinity = np.full(toy.num_nodes, 0.5)
    models: tuple[tuple[InfluenceGraph, Model], ...] = ((ic, "ic"), (lt, "lt"))
    for graph, model in models:
        estimate_reach(graph, [0, 1], model=model, simulations=8, seed=0, affinity=affinity)
        plan_campaign(graph, k=1, model=model, affinity=affinity, simulations=8, seed=0)
    seconds = time.perf_counter() - started
    _log.info("reach kernels ready in %.2f s (numba compile or cache load)", seconds)
    return seconds


def settle_heap() -> None:
    """Collect garbage, then freeze the survivors (the loaded state) out of future
    collections: the collector stops re-scanning the snapshot's millions of long-lived objects
    (measured: ~6-10% less CPU per recommendation). Call after the serving state changes; the
    unfreeze first lets garbage of a replaced state be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def open_writers(settings: Settings) -> tuple[StoreGateway, ImpressionLog]:
    """The write side of the API: a gateway to the configured store and the impression log.

    The store is tried once here; when it cannot be opened the API still serves from its
    snapshot (writes answer 503 until the store is back). An impression log that cannot be
    opened falls back to memory. Both are logged as warnings.
    """
    store = StoreGateway(lambda: open_store(settings.store, settings))
    try:
        store.call(lambda opened: None)  # open it now, waiting as long as opening takes
    except StoreUnavailableError as exc:
        _log.warning(
            "graph store %r unavailable (%s): serving read-only until back", settings.store, exc
        )
    path = settings.resolved_impressions_path
    try:
        impressions = ImpressionLog(path)
    except (OSError, sqlite3.Error) as exc:
        _log.warning("impression log %s unavailable (%s): kept in memory", path, exc)
        impressions = ImpressionLog(None)
    return store, impressions
