"""Train LightGCN or SocialLightGCN with BPR and validation-based early stopping; checkpoint it.

Run order: config -> split (seeded) -> normalised adjacency (and, for the social model, the
normalised friend graph) -> model from :data:`MODELS` (seeded init) -> epochs
of BPR over shuffled training pairs with one uniform negative each -> evaluation on the
validation split every ``eval_every`` epochs -> the best-validation weights are kept and
evaluated once on the test split. The test split never influences training or selection.

Speed: the adjacency is normalised once (:func:`gnn.data.normalized_adjacency`) and each
batch does ``num_layers`` sparse-dense products forward and backward (LightGCN evaluates its
layer mean as one polynomial, :func:`gnn.models.lightgcn.layer_mean`), Adam is the fused
kernel, and negatives for a whole epoch are drawn at once and collisions with training
positives are rejected by a sorted-key lookup (``torch.searchsorted``).

The same loop trains in several processes (:mod:`gnn.distributed`): :class:`Replicas` is
how it sees them, and :func:`train_step` is the batch step both paths share.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from gnn.baselines import popularity_embeddings, popularity_metrics
from gnn.checkpoint import Checkpoint
from gnn.data import (
    DEFAULT_RATIOS,
    TrainData,
    normalized_adjacency,
    normalized_social_adjacency,
)
from gnn.evaluate import evaluate
from gnn.losses import bpr_loss, l2_reg
from gnn.metrics import METRICS
from gnn.models.lightgcn import LightGCN
from gnn.models.social import FUSIONS, SocialLightGCN
from gnn.report import slices
from graph.snapshot import Snapshot

#: Model registry: ``TrainConfig.model`` / ``Checkpoint.model_name`` -> model class.
MODELS: dict[str, type[LightGCN] | type[SocialLightGCN]] = {
    "lightgcn": LightGCN,
    "social": SocialLightGCN,
}
#: Any model of :data:`MODELS`.
Recommender = LightGCN | SocialLightGCN


#: Per-model defaults that replace the field defaults of :class:`TrainConfig` (see
#: :meth:`TrainConfig.for_model`), chosen on the LastFM validation split: the social model
#: trains with the SimGCL contrastive loss, a lower learning rate and a stronger L2 penalty.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "social": {"lr": 2e-3, "ssl_weight": 0.05, "reg_weight": 3e-3}
}


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
    :class:`gnn.models.social.SocialLightGCN`), hence :data:`MODEL_DEFAULTS`. LightGCN keeps
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
        lr: Adam learning rate.
        batch_size: training pairs per step (at least; see ``steps_per_epoch``).
        steps_per_epoch: if set, at most this many optimiser steps per epoch: the batch grows
            to ``ceil(pairs / steps_per_epoch)`` when that exceeds ``batch_size``. Every step
            propagates the whole graph, so with a fixed batch an epoch costs ~edges squared;
            capping the steps keeps it linear in the edges on large graphs (``None``: every
            batch of ``batch_size``, the protocol's setting).
        reg_weight: weight of :func:`gnn.losses.l2_reg` on the batch's layer-0 embeddings.
        epochs: maximum number of epochs.
        eval_every: evaluate on the validation split every this many epochs.
        patience: stop after this many evaluations without a better ``monitor`` value, once
            the warm-up is over and the model has beaten popularity (:func:`should_stop`).
        warmup_epochs: never stop before this many epochs.
        monitor: validation metric for early stopping / model selection.
        seed: seeds the split, the initialisation, the shuffles and the negatives.
        ratios: (train, valid, test) split weights.
        kinds: interaction kinds to train on (``None`` = all).
        ks: evaluation cut-offs.
        eval_batch_size: users per scoring matmul during evaluation.
        num_threads: torch intra-op threads while training (``None`` = leave as is).
    """

    model: str = "lightgcn"
    embedding_dim: int = 64
    num_layers: int = 3
    social_weight: float = 0.1
    fusion: str = "fixed"
    ssl_weight: float = 0.0
    ssl_eps: float = 0.1
    ssl_temperature: float = 0.2
    lr: float = 5e-3
    batch_size: int = 4096
    steps_per_epoch: int | None = None
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
        for name, count in (("num_layers", self.num_layers), ("warmup_epochs", self.warmup_epochs)):
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
        for name, optional in (
            ("steps_per_epoch", self.steps_per_epoch),
            ("num_threads", self.num_threads),
        ):
            if optional is not None and optional < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {optional}")

    def epoch_batch_size(self, pairs: int) -> int:
        """Training pairs per step in an epoch over ``pairs`` pairs (see ``steps_per_epoch``)."""
        if self.steps_per_epoch is None:
            return self.batch_size
        return max(self.batch_size, -(-pairs // self.steps_per_epoch))

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


@dataclass
class EpochRecord:
    """One epoch: mean training loss, training seconds (evaluation excluded) and the
    validation metrics when the epoch was evaluated (else ``None``)."""

    epoch: int
    loss: float
    train_seconds: float
    valid: dict[str, float] | None = None


#: Progress callback: called after every epoch.
TrainProgress = Callable[[EpochRecord], None]


def should_stop(
    curve: Sequence[float],
    epoch: int,
    baseline: float,
    *,
    patience: int,
    warmup_epochs: int,
) -> bool:
    """The early-stopping rule: stop after ``epoch`` only if all three hold.

    - the warm-up is over: ``epoch >= warmup_epochs``;
    - the best validation value so far beats the popularity baseline's
      (``max(curve) > baseline``): a model still below it may be in a flat start (the
      contrastive loss can keep validation flat for dozens of epochs), so it trains on until it
      beats popularity or reaches the maximum epochs;
    - the last ``patience`` evaluations brought no better value (the best is the first
      evaluation holding the maximum, at least ``patience`` evaluations back).

    Args:
        curve: the validation ``monitor`` values so far, one per evaluation, oldest first.
        epoch: epochs run so far.
        baseline: the popularity baseline's value of the same metric on the same split.
        patience: evaluations without improvement to wait.
        warmup_epochs: epochs before which training never stops.
    """
    if not curve or epoch < warmup_epochs:
        return False
    best = max(curve)
    if best <= baseline:
        return False
    return len(curve) - 1 - list(curve).index(best) >= patience


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        model: the model holding the best-validation weights.
        data: the split it was trained on.
        config: the resolved configuration.
        history: one record per epoch run.
        best_epoch: epoch of the best validation ``monitor`` value.
        valid_metrics / test_metrics: metrics of the best model.
        user_embeddings / item_embeddings: final propagated embeddings of the best model.
        popular_valid / popular_test: metrics of the popularity baseline
            (:func:`gnn.baselines.popularity_metrics`) on the same splits.
        slices: test metrics of the cold-start users and long-tail items
            (:func:`gnn.report.slices`), ``{"model": ..., "popular": ...}``.
        stopped_early: whether patience ran out before ``config.epochs``.
    """

    model: Recommender
    data: TrainData
    config: TrainConfig
    history: list[EpochRecord]
    best_epoch: int
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    user_embeddings: Tensor
    item_embeddings: Tensor
    popular_valid: dict[str, float] = field(default_factory=dict)
    popular_test: dict[str, float] = field(default_factory=dict)
    slices: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def beats_popular(self) -> bool:
        """Whether the best validation ``monitor`` value is at least popularity's."""
        monitor = self.config.monitor
        return self.valid_metrics.get(monitor, -math.inf) >= self.popular_valid.get(
            monitor, -math.inf
        )

    @property
    def sec_per_epoch(self) -> float:
        """Mean training seconds per epoch (evaluation excluded)."""
        if not self.history:
            return 0.0
        return sum(r.train_seconds for r in self.history) / len(self.history)


class NegativeSampler:
    """Uniform negative items that are not a training positive of the user.

    Args:
        user: int64 training users; item: int64 training items (any order).
        num_items: size of the item space.
        max_rounds: re-draw rounds for collisions; a user who has every item keeps a
            positive as "negative" after that (no valid negative exists).
    """

    def __init__(self, user: Tensor, item: Tensor, num_items: int, max_rounds: int = 50) -> None:
        self.num_items = num_items
        self.max_rounds = max_rounds
        self._keys = torch.unique(user * num_items + item)  # sorted

    def is_positive(self, user: Tensor, item: Tensor) -> Tensor:
        """Bool mask: is ``(user[b], item[b])`` a training pair."""
        key = user * self.num_items + item
        pos = torch.searchsorted(self._keys, key).clamp_(max=self._keys.numel() - 1)
        return self._keys[pos] == key

    def sample(self, user: Tensor, generator: torch.Generator) -> Tensor:
        """One negative item per entry of ``user``."""
        neg = torch.randint(self.num_items, user.shape, generator=generator)
        todo = torch.nonzero(self.is_positive(user, neg)).view(-1)
        for _ in range(self.max_rounds):
            if todo.numel() == 0:
                break
            neg[todo] = torch.randint(self.num_items, todo.shape, generator=generator)
            todo = todo[self.is_positive(user[todo], neg[todo])]
        return neg


def build_model(config: TrainConfig, data: TrainData) -> tuple[Recommender, tuple[Tensor, ...]]:
    """The (unseeded) model named by ``config.model`` and the sparse graphs it propagates on.

    The graphs are built once: the normalised user-item adjacency of the training pairs and,
    for ``"social"``, the normalised friend graph of ``data.social_src/social_dst``. Pass
    them first to the model's ``get_embedding`` / ``forward``.

    Raises:
        ValueError: if ``config.model`` is not in :data:`MODELS`.
    """
    if config.model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {config.model!r}")
    adj = normalized_adjacency(data.train_user, data.train_item, data.num_users, data.num_items)
    if config.model == "social":
        social = normalized_social_adjacency(data.social_src, data.social_dst, data.num_users)
        return (
            SocialLightGCN(
                data.num_users,
                data.num_items,
                config.embedding_dim,
                config.num_layers,
                config.social_weight,
                config.fusion,
                config.ssl_weight,
                config.ssl_eps,
                config.ssl_temperature,
            ),
            (adj, social),
        )
    return LightGCN(data.num_users, data.num_items, config.embedding_dim, config.num_layers), (adj,)


class BatchObjective(torch.nn.Module):
    """The training loss of one batch as a module, so that
    :class:`torch.nn.parallel.DistributedDataParallel` can wrap it.

    ``forward(users, pos, neg, rows)`` takes a batch of ``B`` (user, positive, negative)
    triples and the slice ``rows`` of it that this process scores, and returns
    ``(share, ssl)``:

    - ``share`` is ``len(rows) / B`` times the BPR loss plus ``reg_weight`` times the L2
      penalty over the triples ``rows``. Both are means over their triples
      (:func:`gnn.losses.bpr_loss`, :func:`gnn.losses.l2_reg`), so the shares of a partition
      of the batch add up to the loss of the whole batch. An empty slice gives an exact zero
      that still depends on the weights (every process must back-propagate to them).
    - ``ssl`` is the social model's contrastive loss (:meth:`SocialLightGCN.ssl_loss`) over
      the whole batch, or ``None``. It is not split: each node's InfoNCE term contrasts it
      with the batch's other nodes, so the terms of a slice need the whole batch's views.

    Args:
        model: the model to train.
        graphs: its sparse graphs (:func:`build_model`), on the model's device.
        reg_weight: weight of the L2 penalty.
        generator: source of the contrastive noise.
    """

    def __init__(
        self,
        model: Recommender,
        graphs: tuple[Tensor, ...],
        reg_weight: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.model = model
        self.graphs = graphs
        self.reg_weight = reg_weight
        self.generator = generator

    def forward(
        self, users: Tensor, pos: Tensor, neg: Tensor, rows: slice
    ) -> tuple[Tensor, Tensor | None]:
        model = self.model
        weight = model.embedding.weight
        u, p, q = users[rows], pos[rows], neg[rows]
        if u.numel() == 0:
            share = weight.sum() * 0.0
        else:
            scores = model(*self.graphs, u, torch.stack([p, q], dim=1))
            share = bpr_loss(scores[:, 0], scores[:, 1])
            if self.reg_weight > 0:
                offset = model.num_users
                layer0 = weight.index_select(0, torch.cat([u, p + offset, q + offset]))
                share = share + self.reg_weight * l2_reg(*layer0.view(3, u.numel(), -1).unbind(0))
            if u.numel() != users.numel():
                share = share * (u.numel() / users.numel())
        ssl = None
        if isinstance(model, SocialLightGCN) and model.ssl_weight > 0:
            ssl = model.ssl_loss(self.graphs[0], self.graphs[1], users, pos, self.generator)
        return share, ssl


class Replicas:
    """The processes that train one model together, as the training loop sees them.

    This base class is a single process: it holds the whole batch and needs no communication.
    :class:`gnn.distributed.DataParallel` overrides every member for several processes.

    Args:
        device: where the single process trains (``"cuda"`` for one GPU).

    Attributes:
        world_size: number of processes.
        device: where this process trains.
    """

    world_size: int = 1

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def wrap(self, objective: BatchObjective) -> torch.nn.Module:
        """The module to call for each batch's loss."""
        return objective

    def shard(self, rows: int) -> slice:
        """This process's triples of a batch of ``rows``."""
        return slice(0, rows)

    def sum(self, value: float) -> float:
        """``value`` summed over the processes."""
        return value

    def agree(self, flag: bool) -> bool:
        """The first process's ``flag``, so that every process takes the same decision."""
        return flag


def train_step(
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    users: Tensor,
    pos: Tensor,
    neg: Tensor,
    replicas: Replicas,
) -> float:
    """One optimiser step on a batch of triples, every process with its own slice of it.

    Each process back-propagates ``world_size * share + ssl`` (see :class:`BatchObjective`);
    DistributedDataParallel averages the gradients over the processes, which gives the
    gradient of the whole batch's loss, as in one process.

    Returns:
        This process's part of the batch's mean loss; the parts sum to the loss.
    """
    share, ssl = objective(users, pos, neg, replicas.shard(users.numel()))
    loss = share * replicas.world_size
    part = share.detach()
    if ssl is not None:
        loss = loss + ssl
        part = part + ssl.detach() / replicas.world_size
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(part)


def _train_epoch(
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: TrainData,
    sampler: NegativeSampler,
    config: TrainConfig,
    generator: torch.Generator,
    replicas: Replicas,
) -> float:
    objective.train()
    n = data.train_user.numel()
    perm = torch.randperm(n, generator=generator)
    users = data.train_user[perm]
    pos = data.train_item[perm]
    neg = sampler.sample(users, generator)
    users, pos, neg = (t.to(replicas.device) for t in (users, pos, neg))
    total = 0.0
    size = config.epoch_batch_size(n)
    for start in range(0, n, size):
        u = users[start : start + size]
        p = pos[start : start + size]
        q = neg[start : start + size]
        total += train_step(objective, optimizer, u, p, q, replicas) * u.numel()
    return replicas.sum(total) / n


def _embeddings(model: Recommender, graphs: tuple[Tensor, ...]) -> Tensor:
    """Final embeddings of all nodes, on the CPU (where evaluation runs)."""
    model.eval()
    with torch.no_grad():
        return model.get_embedding(*graphs).cpu()


def train(
    source: Snapshot | TrainData,
    config: TrainConfig | None = None,
    progress: TrainProgress | None = None,
    replicas: Replicas | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``source`` and keep the best-validation model.

    Args:
        source: a snapshot (split here with ``config.seed``) or an already split
            :class:`TrainData` (its own split is used as is).
        config: the configuration (default :class:`TrainConfig`).
        progress: called with an :class:`EpochRecord` after every epoch.
        replicas: the processes training together (default: this one alone; see
            :func:`gnn.distributed.train_distributed`).

    Returns:
        The best model, its final embeddings, history and valid/test metrics.

    Raises:
        ValueError: on an invalid config, or data without training or validation pairs.
    """
    config = config or TrainConfig()
    config.validate()
    previous_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    try:
        return _train(source, config, progress, replicas or Replicas())
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    source: Snapshot | TrainData,
    config: TrainConfig,
    progress: TrainProgress | None,
    replicas: Replicas,
) -> TrainResult:
    if isinstance(source, Snapshot):
        data = TrainData.from_snapshot(
            source, seed=config.seed, kinds=config.kinds, ratios=config.ratios
        )
    else:
        data = source
    if data.train_user.numel() == 0:
        raise ValueError("source has no training interactions; load interactions first")
    if data.valid_user.numel() == 0:
        raise ValueError(
            "source has no validation interactions (every user has too few interactions "
            f"for ratios={list(data.ratios)}); early stopping needs some"
        )
    popular_valid = popularity_metrics(data, "valid", config.ks, batch_size=config.eval_batch_size)
    generator = torch.Generator().manual_seed(config.seed)
    model, graphs = build_model(config, data)
    model.reset_parameters(generator=generator)
    model.to(replicas.device)
    graphs = tuple(g.to(replicas.device) for g in graphs)
    objective = replicas.wrap(BatchObjective(model, graphs, config.reg_weight, generator))
    # The fused kernel updates each parameter in one pass, with no temporaries.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    sampler = NegativeSampler(data.train_user, data.train_item, data.num_items)

    history: list[EpochRecord] = []
    curve: list[float] = []
    best_value = -math.inf
    best_epoch = 0
    best_state = copy.deepcopy(model.state_dict())
    best_valid: dict[str, float] = {}
    stopped_early = False
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        loss = _train_epoch(objective, optimizer, data, sampler, config, generator, replicas)
        record = EpochRecord(epoch, loss, time.perf_counter() - started)
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            emb = _embeddings(model, graphs)
            record.valid = evaluate(
                emb[: data.num_users],
                emb[data.num_users :],
                data,
                "valid",
                config.ks,
                batch_size=config.eval_batch_size,
            )
            curve.append(record.valid[config.monitor])
            if curve[-1] > best_value:
                best_value, best_epoch, best_valid = curve[-1], epoch, record.valid
                best_state = copy.deepcopy(model.state_dict())
        history.append(record)
        if progress is not None:
            progress(record)
        stop = should_stop(
            curve,
            epoch,
            popular_valid[config.monitor],
            patience=config.patience,
            warmup_epochs=config.warmup_epochs,
        )
        if replicas.agree(stop):
            stopped_early = True
            break

    model.load_state_dict(best_state)
    emb = _embeddings(model, graphs)
    model.cpu()
    user_emb, item_emb = emb[: data.num_users].clone(), emb[data.num_users :].clone()
    test = evaluate(user_emb, item_emb, data, "test", config.ks, batch_size=config.eval_batch_size)
    popular_emb = popularity_embeddings(data)
    test_slices = {
        name: slices(*emb_pair, data, "test", config.ks, batch_size=config.eval_batch_size)
        for name, emb_pair in (("model", (user_emb, item_emb)), ("popular", popular_emb))
    }
    return TrainResult(
        model=model,
        data=data,
        config=config,
        history=history,
        best_epoch=best_epoch,
        valid_metrics=best_valid,
        test_metrics=test,
        user_embeddings=user_emb,
        item_embeddings=item_emb,
        popular_valid=popular_valid,
        popular_test=popularity_metrics(data, "test", config.ks, batch_size=config.eval_batch_size),
        slices=test_slices,
        stopped_early=stopped_early,
    )


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
    "sec_per_epoch", "split", "history", "popular"}``; ``popular`` has the popularity
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
