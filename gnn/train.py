"""Train LightGCN or SocialLightGCN with BPR and validation-based early stopping.

Run order: config (:mod:`gnn.config`) -> split (seeded) -> normalised adjacency (and, for
the social model, the normalised friend graph) -> model from :data:`gnn.config.MODELS`
(seeded init) -> epochs of BPR over shuffled training pairs with one uniform negative each ->
evaluation on the validation split every ``eval_every`` epochs -> the best-validation
weights are kept and evaluated once on the test split. The test split never influences
training or selection. An epoch's batch size, steps and learning rate come from
:meth:`TrainConfig.epoch_plan`; :func:`gnn.checkpoint.to_checkpoint` turns the result into a
servable checkpoint.

Speed: the adjacency is normalised once (:func:`gnn.data.normalized_adjacency`) and each
batch does ``num_layers`` sparse-dense products forward and backward (LightGCN evaluates its
layer mean as one polynomial, :func:`gnn.models.lightgcn.layer_mean`), Adam is the fused
kernel, freed memory is kept for the next step (:mod:`gnn.allocator`), and negatives for a
whole epoch are drawn at once and collisions with training positives are rejected by a
sorted-key lookup (``torch.searchsorted``).

The same loop trains in several processes (:mod:`gnn.distributed`): :class:`Replicas` is
how it sees them, and :func:`train_step` is the batch step both paths share.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gnn.allocator import keep_freed_memory
from gnn.baselines import popularity_embeddings, popularity_metrics
from gnn.config import MODELS, EpochPlan, Recommender, TrainConfig
from gnn.data import TrainData, normalized_adjacency, normalized_social_adjacency
from gnn.evaluate import evaluate
from gnn.losses import bpr_loss, l2_reg
from gnn.models.lightgcn import Graph, LightGCN, pair_scores
from gnn.models.social import SocialLightGCN
from gnn.report import slices
from gnn.threads import default_threads
from graph.snapshot import Snapshot


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
        plan: the epochs' batch size, steps and learning rate
            (:meth:`TrainConfig.epoch_plan`; ``None`` for a result built by hand).
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
    plan: EpochPlan | None = None

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
    def cut_short(self) -> bool:
        """Whether ``config.epochs`` ended training while validation was still improving:
        no early stop, and the best epoch is less than the patience before the last."""
        window = self.config.patience * self.config.eval_every
        return not self.stopped_early and self.epochs_run - self.best_epoch < window

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


def build_model(config: TrainConfig, data: TrainData) -> tuple[Recommender, tuple[Graph, ...]]:
    """The (unseeded) model named by ``config.model`` and the sparse graphs it propagates on.

    The graphs are built once: the normalised user-item adjacency of the training pairs or,
    for ``"social"``, its fusion with the normalised friend graph of
    ``data.social_src/social_dst`` into one operator (:meth:`SocialLightGCN.propagation`).
    Pass them first to the model's ``get_embedding`` / ``forward``.

    Raises:
        ValueError: if ``config.model`` is not in :data:`MODELS`.
    """
    if config.model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {config.model!r}")
    adj = normalized_adjacency(data.train_user, data.train_item, data.num_users, data.num_items)
    if config.model == "social":
        social = normalized_social_adjacency(data.social_src, data.social_dst, data.num_users)
        model = SocialLightGCN(
            data.num_users,
            data.num_items,
            config.embedding_dim,
            config.num_layers,
            config.social_weight,
            config.fusion,
            config.ssl_weight,
            config.ssl_eps,
            config.ssl_temperature,
        )
        return (
            model,
            (model.propagation(adj, social),),
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
      the batch's first ``ssl_rows`` triples (``TrainConfig.ssl_rows``; the batch is shuffled,
      so they are a uniform sample), or ``None``. Its cost and memory are quadratic in those
      rows, hence the cap. It is not split: each node's InfoNCE term contrasts it with the
      other nodes, so the terms of a slice need all the views.

    Args:
        model: the model to train.
        graphs: its sparse graphs (:func:`build_model`), on the model's device.
        reg_weight: weight of the L2 penalty.
        generator: source of the contrastive noise.
        ssl_rows: most triples of a batch the contrastive loss contrasts (``None``: all).
    """

    def __init__(
        self,
        model: Recommender,
        graphs: tuple[Graph, ...],
        reg_weight: float,
        generator: torch.Generator,
        ssl_rows: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.graphs = graphs
        self.reg_weight = reg_weight
        self.generator = generator
        self.ssl_rows = ssl_rows

    def forward(
        self, users: Tensor, pos: Tensor, neg: Tensor, rows: slice
    ) -> tuple[Tensor, Tensor | None]:
        model = self.model
        weight = model.embedding.weight
        u, p, q = users[rows], pos[rows], neg[rows]
        emb: Tensor | None = None
        ssl: Tensor | None = None
        if isinstance(model, SocialLightGCN) and model.ssl_weight > 0:
            # One clean propagation serves both terms (see embedding_and_ssl_loss).
            head = slice(0, self.ssl_rows)
            emb, ssl = model.embedding_and_ssl_loss(
                self.graphs[0], users[head], pos[head], self.generator
            )
        if u.numel() == 0:
            share = weight.sum() * 0.0
        else:
            emb = model.get_embedding(*self.graphs) if emb is None else emb
            scores = pair_scores(emb, model.num_users, u, torch.stack([p, q], dim=1))
            share = bpr_loss(scores[:, 0], scores[:, 1])
            if self.reg_weight > 0:
                offset = model.num_users
                layer0 = weight.index_select(0, torch.cat([u, p + offset, q + offset]))
                share = share + self.reg_weight * l2_reg(*layer0.view(3, u.numel(), -1).unbind(0))
            if u.numel() != users.numel():
                share = share * (u.numel() / users.numel())
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
    size: int,
    generator: torch.Generator,
    replicas: Replicas,
) -> float:
    """One epoch of shuffled triples in steps of ``size``; returns the mean training loss."""
    objective.train()
    n = data.train_user.numel()
    perm = torch.randperm(n, generator=generator)
    users = data.train_user[perm]
    pos = data.train_item[perm]
    neg = sampler.sample(users, generator)
    users, pos, neg = (t.to(replicas.device) for t in (users, pos, neg))
    total = 0.0
    for start in range(0, n, size):
        u = users[start : start + size]
        p = pos[start : start + size]
        q = neg[start : start + size]
        total += train_step(objective, optimizer, u, p, q, replicas) * u.numel()
    return replicas.sum(total) / n


def _embeddings(model: Recommender, graphs: tuple[Graph, ...]) -> Tensor:
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

    The process keeps freed memory for reuse from then on
    (:func:`gnn.allocator.keep_freed_memory`) unless its environment tunes the allocator.

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
    keep_freed_memory()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads or default_threads())
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
    plan = config.epoch_plan(data.train_user.numel())
    objective = replicas.wrap(
        BatchObjective(
            model,
            graphs,
            config.reg_weight,
            generator,
            ssl_rows=config.batch_size if config.ssl_rows is None else config.ssl_rows,
        )
    )
    # The fused kernel updates each parameter in one pass, with no temporaries.
    optimizer = torch.optim.Adam(model.parameters(), lr=plan.lr, fused=True)
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
        if isinstance(model, SocialLightGCN):
            model.ssl_weight = config.ssl_weight_at(epoch)
        loss = _train_epoch(
            objective, optimizer, data, sampler, plan.batch_size, generator, replicas
        )
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

    if isinstance(model, SocialLightGCN):
        model.ssl_weight = config.ssl_weight  # as configured, whatever epoch training ended in
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
        plan=plan,
    )
