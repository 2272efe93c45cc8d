"""The training configuration: :class:`TrainConfig`, its defaults and the epoch plan.

Every default lives here: the field defaults of :class:`TrainConfig`, the per-model ones of
:data:`MODEL_DEFAULTS` and the rule that sizes an epoch's steps and learning rate from the
graph (:meth:`TrainConfig.epoch_plan`). Override order: field defaults, then
``MODEL_DEFAULTS[model]`` (:meth:`TrainConfig.for_model`), then a configuration file
(``socialrec train --config``), then explicit options.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from gnn.data import DEFAULT_RATIOS
from gnn.metrics import METRICS
from gnn.models.lightgcn import LightGCN
from gnn.models.social import FUSIONS, SocialLightGCN

#: Model registry: ``TrainConfig.model`` / ``Checkpoint.model_name`` -> model class.
MODELS: dict[str, type[LightGCN] | type[SocialLightGCN]] = {
    "lightgcn": LightGCN,
    "social": SocialLightGCN,
}
#: Any model of :data:`MODELS`.
Recommender = LightGCN | SocialLightGCN

#: Per-model defaults that replace the field defaults of :class:`TrainConfig` (see
#: :meth:`TrainConfig.for_model`), chosen by validation NDCG@10 over LastFM, yelp1 and flickr:
#: the social model trains with the SimGCL contrastive loss (weight 0.02, over the nodes of
#: 1,024 pairs per step, ramped up over the first 10 epochs), a lower learning rate and a
#: stronger L2 penalty.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "social": {
        "lr": 2e-3,
        "ssl_weight": 0.02,
        "reg_weight": 3e-3,
        "ssl_rows": 1024,
        "ssl_ramp_epochs": 10,
    }
}

#: ``steps_per_epoch="auto"``: the most optimiser steps (full-graph propagations) per epoch.
AUTO_MAX_STEPS: Final[int] = 64

#: What ``steps_per_epoch`` may hold: a cap, ``"auto"`` or ``None`` (every batch).
StepsPerEpoch = int | Literal["auto"] | None


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch over a training split runs (:meth:`TrainConfig.epoch_plan`).

    Attributes:
        batch_size: training pairs per step (the last step may have fewer).
        steps: optimiser steps per epoch.
        lr: the Adam learning rate used.
    """

    batch_size: int
    steps: int
    lr: float


@dataclass
class TrainConfig:
    """The training configuration; defaults here and in :data:`MODEL_DEFAULTS` are the only
    defaults (the CLI overrides). Build it with :meth:`for_model` to get a model's defaults.

    Defaults follow the RecBole protocol's sizes (dim 64, 3 layers, batch 4096, one uniform
    negative). The learning rate was chosen on the LastFM *validation* split (seed 2020, best
    valid NDCG@10): 1e-3 was still at 0.163 after 400 epochs, 2e-3 reached 0.175 (~450
    epochs), 5e-3 0.178 (best epoch 282) and 1e-2 0.171 (~200 epochs). The social model's
    settings (``social_weight=0.1``, ``fusion="fixed"``, the contrastive loss with
    ``ssl_weight=0.05``, lr 2e-3 and a stronger L2 ``reg_weight=3e-3``) were chosen on the
    same split by mean validation NDCG@10 over seeds (see
    :class:`gnn.models.social.SocialLightGCN`), hence :data:`MODEL_DEFAULTS`. Its contrast
    set, the nodes of ``ssl_rows=1024`` pairs per step instead of the whole batch (6x less
    InfoNCE work on LastFM), kept validation NDCG@10 (seeds 2020-2022: 0.1855 / 0.1897 /
    0.1917, mean 0.1890; the sweep had 0.1891 with the whole batch). Ramping the contrastive
    weight up over the first ``ssl_ramp_epochs=10`` epochs tied on LastFM (0.1869 / 0.1887 /
    0.1912, mean 0.1889) and won on yelp1 and flickr (seed 2020), where the full weight from
    epoch 1 sets validation back for epochs that those sets' early peaks need (flickr 0.0041
    against 0.0032; docs/model-quality.md). A weight of 0.02 instead of 0.05 won on all three
    sets (LastFM seeds 2020-2022 0.1897 / 0.1904 / 0.1935, mean 0.1912; yelp1 0.0160 against
    0.0158 and flickr 0.0049 against 0.0041, seed 2020), at about three times the epochs on
    LastFM (best epochs 182-294 against 47-94). LightGCN keeps
    the protocol's L2 1e-4: with 3e-3 its validation NDCG@10 was 0.1545 at epoch 205 (seed 2020,
    still rising slowly) against 0.1779.

    Attributes:
        model: a name of :data:`MODELS` (``"lightgcn"`` or ``"social"``).
        embedding_dim: embedding size.
        num_layers: propagation layers.
        social_weight: fusion weight of the friend-graph message (``"social"`` only).
        fusion: fusion rule of :class:`gnn.models.social.SocialLightGCN` (``"social"`` only).
        ssl_weight: weight of the SimGCL contrastive loss
            (:meth:`gnn.models.social.SocialLightGCN.ssl_loss`; ``"social"`` only, 0 = off).
        ssl_eps: magnitude of the noise added to every layer of the contrastive views.
        ssl_temperature: InfoNCE temperature of the contrastive loss.
        ssl_ramp_epochs: the contrastive weight grows linearly from ``ssl_weight / N`` in
            epoch 1 to ``ssl_weight`` in epoch ``N`` (:meth:`ssl_weight_at`); 0 = the full
            weight from the start.
        ssl_rows: the contrastive loss contrasts the users and items of a step's first
            ``ssl_rows`` training pairs (a uniform sample: batches are shuffled); its cost is
            quadratic in them. ``None``: ``batch_size``.
        lr: Adam learning rate (of a step of ``batch_size`` pairs; see ``steps_per_epoch``).
        batch_size: training pairs per step (at least; see ``steps_per_epoch``).
        steps_per_epoch: how many optimiser steps an epoch takes. Every step propagates the
            whole graph, so with a fixed batch an epoch costs ~edges squared. ``"auto"`` (the
            default): every batch of ``batch_size`` while that is at most
            :data:`AUTO_MAX_STEPS` steps (graphs up to 262,144 training pairs, Last.fm
            included, train exactly as with ``None``); on larger graphs that many steps,
            the batch grown to ``ceil(pairs / AUTO_MAX_STEPS)`` and the learning rate
            multiplied by ``sqrt(batch / batch_size)`` (square-root scaling for Adam), so the
            epoch is linear in the edges. An int ``N``: at most ``N`` steps, the batch grown
            the same way, the learning rate as given. ``None``: every batch of
            ``batch_size`` (the protocol's setting).
        reg_weight: weight of :func:`gnn.losses.l2_reg` on the batch's layer-0 embeddings.
        epochs: maximum number of epochs.
        eval_every: evaluate on the validation split every this many epochs.
        patience: stop after this many evaluations without a better ``monitor`` value, once
            the warm-up is over and the model has beaten popularity
            (:func:`gnn.train.should_stop`).
        warmup_epochs: never stop before this many epochs.
        monitor: validation metric for early stopping / model selection.
        seed: seeds the split, the initialisation, the shuffles and the negatives.
        ratios: (train, valid, test) split weights.
        kinds: interaction kinds to train on (``None`` = all).
        ks: evaluation cut-offs.
        eval_batch_size: users per scoring matmul during evaluation.
        num_threads: torch intra-op threads while training (``None``: the CPUs available,
            :func:`gnn.threads.default_threads`).
    """

    model: str = "lightgcn"
    embedding_dim: int = 64
    num_layers: int = 3
    social_weight: float = 0.1
    fusion: str = "fixed"
    ssl_weight: float = 0.0
    ssl_eps: float = 0.1
    ssl_temperature: float = 0.2
    ssl_rows: int | None = None
    ssl_ramp_epochs: int = 0
    lr: float = 5e-3
    batch_size: int = 4096
    steps_per_epoch: StepsPerEpoch = "auto"
    reg_weight: float = 1e-4
    epochs: int = 300
    eval_every: int = 1
    patience: int = 50
    warmup_epochs: int = 30
    monitor: str = "ndcg@10"
    seed: int = 2020
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    kinds: tuple[str, ...] | None = None
    ks: tuple[int, ...] = (10, 20)
    eval_batch_size: int = 1024
    num_threads: int | None = None

    def validate(self) -> None:
        """Check every field.

        Raises:
            ValueError: naming the first invalid field and its value.
        """
        positive = {
            "embedding_dim": self.embedding_dim,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "eval_every": self.eval_every,
            "patience": self.patience,
            "eval_batch_size": self.eval_batch_size,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        counts = (
            ("num_layers", self.num_layers),
            ("warmup_epochs", self.warmup_epochs),
            ("ssl_ramp_epochs", self.ssl_ramp_epochs),
        )
        for name, count in counts:
            if count < 0:
                raise ValueError(f"{name} must be >= 0, got {count}")
        if not (math.isfinite(self.social_weight) and 0 <= self.social_weight <= 1):
            raise ValueError(f"social_weight must be in [0, 1], got {self.social_weight}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        for name, amount in (("ssl_weight", self.ssl_weight), ("ssl_eps", self.ssl_eps)):
            if not (math.isfinite(amount) and amount >= 0):
                raise ValueError(f"{name} must be >= 0, got {amount}")
        if not (math.isfinite(self.ssl_temperature) and self.ssl_temperature > 0):
            raise ValueError(f"ssl_temperature must be > 0, got {self.ssl_temperature}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.reg_weight) and self.reg_weight >= 0):
            raise ValueError(f"reg_weight must be >= 0, got {self.reg_weight}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive cut-offs, got {self.ks!r}")
        name, _, k = self.monitor.partition("@")
        if name not in METRICS or not k.isdigit() or int(k) not in self.ks:
            raise ValueError(
                f"monitor must be '<metric>@<k>' with metric in {sorted(METRICS)} and k in "
                f"ks={list(self.ks)}, got {self.monitor!r}"
            )
        steps = self.steps_per_epoch
        if steps != "auto" and steps is not None and not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps_per_epoch must be >= 1, 'auto' or None, got {steps!r}")
        if self.ssl_rows is not None and self.ssl_rows < 1:
            raise ValueError(f"ssl_rows must be >= 1 or None, got {self.ssl_rows}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {self.num_threads}")

    def ssl_weight_at(self, epoch: int) -> float:
        """The contrastive weight in ``epoch`` (1-based): ``ssl_weight``, ramped up over the
        first ``ssl_ramp_epochs`` epochs."""
        if self.ssl_ramp_epochs == 0:
            return self.ssl_weight
        return self.ssl_weight * min(1.0, epoch / self.ssl_ramp_epochs)

    def epoch_plan(self, pairs: int) -> EpochPlan:
        """Batch size, steps and learning rate of an epoch over ``pairs`` training pairs
        (the rule of ``steps_per_epoch``)."""
        cap = AUTO_MAX_STEPS if self.steps_per_epoch == "auto" else self.steps_per_epoch
        size = self.batch_size if cap is None else max(self.batch_size, -(-pairs // cap))
        lr = self.lr
        if self.steps_per_epoch == "auto":
            lr *= math.sqrt(size / self.batch_size)
        return EpochPlan(batch_size=size, steps=-(-pairs // size), lr=lr)

    def epoch_batch_size(self, pairs: int) -> int:
        """Training pairs per step in an epoch over ``pairs`` pairs (see ``steps_per_epoch``)."""
        return self.epoch_plan(pairs).batch_size

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> TrainConfig:
        """The configuration of ``model``: the field defaults, then ``MODEL_DEFAULTS[model]``,
        then ``overrides`` (field names)."""
        return cls(model=model, **{**MODEL_DEFAULTS.get(model, {}), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples as lists), as stored in checkpoints."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones default."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in values.items() if k in known}
        for key in ("ratios", "kinds", "ks"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)
