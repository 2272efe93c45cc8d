"""Checkpoints: model weights + resolved config + id maps + metrics + final embeddings.

A checkpoint is one file written with ``torch.save``. Serving needs only the final
(propagated) user and item embeddings and the id maps, so it never rebuilds the graph;
``state_dict`` and ``model_config`` let training resume or re-propagate.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import torch

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
        card: the model card (:func:`gnn.train.model_card`): data set, defaults and overrides,
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
