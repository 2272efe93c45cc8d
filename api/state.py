"""The serving state: everything the lifespan loads once and routes read."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from api.services.recommender import RecommenderService
from api.settings import Settings
from gnn.checkpoint import Checkpoint, load_checkpoint
from graph.snapshot import Snapshot, read_snapshot


class StateLoadError(RuntimeError):
    """The service cannot start: a snapshot or checkpoint is missing or inconsistent."""


@dataclass(frozen=True, slots=True)
class AppState:
    """Loaded artifacts shared by all requests (read-only after load)."""

    settings: Settings
    snapshot: Snapshot
    checkpoint: Checkpoint
    recommender: RecommenderService


def load_state(settings: Settings) -> AppState:
    """Set torch threads, then load the snapshot and checkpoint named by ``settings``.

    ``torch.set_num_threads(settings.serving_threads)`` is process-wide and deliberate: BLAS
    threads inside the server's threadpool oversubscribe small machines.

    Raises:
        StateLoadError: with the paths and the reason, if an artifact is missing, unreadable
            or the two disagree on users/items.
    """
    torch.set_num_threads(settings.serving_threads)
    snapshot_dir = settings.resolved_snapshot_dir
    checkpoint_path = settings.resolved_checkpoint_path
    try:
        snapshot = read_snapshot(snapshot_dir)
        checkpoint = load_checkpoint(checkpoint_path)
        recommender = RecommenderService.from_artifacts(snapshot, checkpoint)
    except ValueError as exc:  # SnapshotError, CheckpointError, ArtifactMismatchError
        raise StateLoadError(
            f"cannot start the API (snapshot {snapshot_dir}, checkpoint {checkpoint_path}): "
            f"{exc}. Set SOCIALREC_SNAPSHOT_DIR / SOCIALREC_CHECKPOINT_PATH or "
            "--snapshot / --checkpoint."
        ) from exc
    return AppState(
        settings=settings, snapshot=snapshot, checkpoint=checkpoint, recommender=recommender
    )
