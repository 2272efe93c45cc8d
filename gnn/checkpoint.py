"""Checkpoints: model weights + resolved config + id maps + metrics + final embeddings.

A checkpoint is one file written with ``torch.save``. Serving needs only the final
(propagated) user and item embeddings and the id maps, so it never rebuilds the graph;
``state_dict`` and ``model_config`` let training resume or re-propagate. A training run
becomes one with :func:`to_checkpoint` (its model card: :func:`model_card`);
:func:`checkpoint_data` and :func:`evaluate_checkpoint` rebuild its split and re-score it.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import torch

from gnn.config import MODELS, TrainConfig
from gnn.data import TrainData
from gnn.evaluate import evaluate
from gnn.models.social import SocialLightGCN
from graph.snapshot import Snapshot

if TYPE_CHECKING:
    from gnn.train import TrainResult

CHECKPOINT_VERSION: Final[int] = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or of an unsupported version."""


@dataclass
class Checkpoint:
    """Everything a trained recommender needs to be served or resumed.

    Attributes:
        model_name: registry name of the model class (e.g. ``"lightgcn"``).
        model_config: constructor keyword arguments of the model.
        train_config: the resolved training configuration (plain JSON-able dict).
        state_dict: model weights.
        user_embeddings: final user embeddings, shape ``[num_users, dim]``.
        item_embeddings: final item embeddings, shape ``[num_items, dim]``.
        user_ids / item_ids: index -> id maps of the snapshot the model was trained on.
        snapshot_fingerprint: ``Snapshot.fingerprint`` of that snapshot.
        metrics: evaluation results, e.g. ``{"valid": {...}, "test": {...}}``.
        card: the model card (:func:`model_card`): data set, defaults and overrides,
            validation curve, references, baseline guard, slices; empty in older files.
    """

    model_name: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    user_embeddings: torch.Tensor
    item_embeddings: torch.Tensor
    user_ids: list[str]
    item_ids: list[str]
    snapshot_fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    version: int = CHECKPOINT_VERSION

    @property
    def model_version(self) -> str:
        """A short identifier for /health: model name, creation time and snapshot."""
        return f"{self.model_name}@{self.created_at}/{self.snapshot_fingerprint[:12]}"

    @property
    def quality_warnings(self) -> list[str]:
        """Warnings about the model's quality: one when the baseline guard of its model card
        failed (its best validation metric is below the popularity baseline's)."""
        guard = self.card.get("guard")
        if not isinstance(guard, dict) or guard.get("passed") is not False:
            return []
        return [
            f"worse than popularity: validation {guard['monitor']} {guard['model']:.4f} < "
            f"{guard['popular']:.4f} of recommending the most popular items"
        ]


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` atomically (temp file then rename) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    torch.save(asdict(checkpoint), staging)
    staging.replace(target)
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors mapped to CPU).

    Raises:
        CheckpointError: if the file is missing, unreadable or of another version.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist; train a model first")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for corrupt files
        raise CheckpointError(f"checkpoint {source} cannot be read: {exc}") from exc
    version = payload.get("version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {source} has version {version!r}; this socialrec reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return Checkpoint(**payload)


def model_card(
    result: TrainResult, references: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The model card of a training run (JSON-able), stored in its checkpoint and report.

    Args:
        result: the run.
        references: more reference models beside popularity, e.g. ``{"lightgcn": {"valid":
            {...}, "test": {...}}}`` of a LightGCN trained on the same split.

    Returns:
        ``{"dataset", "defaults", "overrides", "monitor", "valid_curve", "best_epoch",
        "stopped_early", "references", "guard", "slices"}``: ``dataset`` has the snapshot
        fingerprint and the split's sizes; ``overrides`` the fields of the configuration that
        differ from ``TrainConfig.for_model(model)``; ``valid_curve`` ``[epoch, value]`` pairs
        of the monitored metric; ``references["popular"]`` the popularity baseline's valid and
        test metrics; ``guard`` ``{"monitor", "model", "popular", "passed"}`` (passed: the
        best validation value is at least popularity's; ``None`` for a result built without
        the baseline, e.g. a timing run); ``slices`` the test metrics of
        cold-start users and long-tail items for the model and popularity.
    """
    config, data, monitor = result.config, result.data, result.config.monitor
    defaults = TrainConfig.for_model(config.model).to_dict()
    return {
        "dataset": {
            "fingerprint": data.fingerprint,
            "users": data.num_users,
            "items": data.num_items,
            "social_links": int(data.social_src.numel()),
            **{split: int(data.pairs(split)[0].numel()) for split in ("train", "valid", "test")},
        },
        "defaults": defaults,
        "overrides": {k: v for k, v in config.to_dict().items() if defaults.get(k) != v},
        "monitor": monitor,
        "valid_curve": [[r.epoch, r.valid[monitor]] for r in result.history if r.valid],
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "references": {
            "popular": {"valid": result.popular_valid, "test": result.popular_test},
            **(references or {}),
        },
        "guard": {
            "monitor": monitor,
            "model": result.valid_metrics.get(monitor, math.nan),
            "popular": result.popular_valid.get(monitor, math.nan),
            "passed": result.beats_popular if result.popular_valid else None,
        },
        "slices": result.slices,
    }


def to_checkpoint(
    result: TrainResult, references: dict[str, dict[str, Any]] | None = None
) -> Checkpoint:
    """The servable checkpoint of a training run: weights, resolved config, id maps, final
    propagated embeddings, metrics (``{"valid", "test", "best_epoch", "epochs_run",
    "sec_per_epoch", "split", "history", "popular", "epoch_plan"}``; ``epoch_plan`` is the
    run's ``{"batch_size", "steps", "lr"}`` (``None`` if unknown); ``popular`` has the popularity
    baseline's ``{"valid", "test"}`` metrics, ``history`` holds one
    ``{"epoch", "loss", "train_seconds", "valid"}`` dict per epoch, ``valid`` possibly
    ``None``) and the model card (:func:`model_card` with ``references``). ``model_name`` is
    ``result.config.model``."""
    model, data = result.model, result.data
    model_config: dict[str, Any] = {
        "num_users": model.num_users,
        "num_items": model.num_items,
        "embedding_dim": model.embedding_dim,
        "num_layers": model.num_layers,
    }
    if isinstance(model, SocialLightGCN):
        model_config["social_weight"] = model.social_weight
        model_config["fusion"] = model.fusion
        model_config["ssl_weight"] = model.ssl_weight
        model_config["ssl_eps"] = model.ssl_eps
        model_config["ssl_temperature"] = model.ssl_temperature
    return Checkpoint(
        model_name=result.config.model,
        model_config=model_config,
        train_config=result.config.to_dict(),
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        user_embeddings=result.user_embeddings.detach().clone(),
        item_embeddings=result.item_embeddings.detach().clone(),
        user_ids=list(data.user_ids),
        item_ids=list(data.item_ids),
        snapshot_fingerprint=data.fingerprint,
        metrics={
            "valid": dict(result.valid_metrics),
            "test": dict(result.test_metrics),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "sec_per_epoch": result.sec_per_epoch,
            "split": {
                "train": int(data.train_user.numel()),
                "valid": int(data.valid_user.numel()),
                "test": int(data.test_user.numel()),
            },
            "history": [asdict(record) for record in result.history],
            "popular": {"valid": dict(result.popular_valid), "test": dict(result.popular_test)},
            "epoch_plan": None if result.plan is None else asdict(result.plan),
        },
        card=model_card(result, references),
    )


def evaluate_checkpoint(
    checkpoint: Checkpoint,
    snapshot: Snapshot,
    split: str = "test",
    ks: tuple[int, ...] | None = None,
) -> dict[str, float]:
    """Re-evaluate a checkpoint's embeddings on ``split`` of the snapshot it was trained on
    (the split is rebuilt from the seed, ratios and kinds in ``checkpoint.train_config``).

    Raises:
        ValueError: if the checkpoint was trained on another snapshot (fingerprints differ)
            or its model is not in :data:`MODELS`.
    """
    data = checkpoint_data(checkpoint, snapshot)
    config = TrainConfig.from_dict(checkpoint.train_config)
    return evaluate(
        checkpoint.user_embeddings,
        checkpoint.item_embeddings,
        data,
        split,
        ks or config.ks,
        batch_size=config.eval_batch_size,
    )


def checkpoint_data(checkpoint: Checkpoint, snapshot: Snapshot) -> TrainData:
    """Rebuild the exact split a checkpoint was trained on from its stored configuration.

    Raises:
        ValueError: if the checkpoint was trained on another snapshot or its model is not in
            :data:`MODELS`.
    """
    if checkpoint.model_name not in MODELS:
        raise ValueError(
            f"checkpoint model_name must be one of {sorted(MODELS)}, got {checkpoint.model_name!r}"
        )
    if checkpoint.snapshot_fingerprint != snapshot.fingerprint:
        raise ValueError(
            f"checkpoint was trained on snapshot {checkpoint.snapshot_fingerprint[:12]} but the "
            f"snapshot given is {snapshot.fingerprint[:12]}; pass the snapshot it was trained "
            "on or retrain"
        )
    config = TrainConfig.from_dict(checkpoint.train_config)
    return TrainData.from_snapshot(
        snapshot, seed=config.seed, kinds=config.kinds, ratios=config.ratios
    )
