"""Offline replay of an experiment on a synthetic world whose preferences are known.

The synthetic world (:mod:`graph.synthetic`) draws every organic engagement of a user from a
known distribution: with probability ``taste_focus`` a category by the community's weights,
then an item of the community's pool in that category by a Zipf law on appeal rank; otherwise
an item of the whole catalogue by appeal. :func:`preference` computes that distribution exactly
per community (the users' personal taste perturbations average out to the community's
weights), so the value of any ranking is known.

A replay serves every user once: the user is assigned a variant by the real
:func:`serving.experiments.assign` (salted SHA-256), shown that variant's top ``k`` items, and
clicks each with probability ``1 - exp(-E * p)`` (``p`` the ground-truth preference of the
item, ``E`` the world's expected clicks per user, ``interactions_per_user * funnel[0]``), then
buys a clicked item with probability ``funnel[1] * funnel[2]``. The outcomes go through the same
:mod:`serving.online_metrics` tests as live traffic. Social influence and returning users are
not replayed (no retention here). Everything is vectorised: a replay of a few thousand users
takes milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from gnn.train import TrainConfig, train
from graph.synthetic import World, WorldConfig, generate_world
from serving import experiment_stats as st
from serving.experiments import Experiment, Variant, assign
from serving.online_metrics import UserOutcomes, compare

PRIMARY_METRIC: Final[str] = "ctr"
#: Rankings a replay can serve: popularity, a model trained on the world (``lightgcn``,
#: ``social``), the ground truth itself (``oracle``, the best possible) or a uniform shuffle.
RANKERS: Final[tuple[str, ...]] = ("popular", "lightgcn", "social", "oracle", "random")


def _zipf_probabilities(size: int, exponent: float) -> NDArray[np.float64]:
    """P(rank r), r in [0, size), of the world's Zipf draw: ``floor(X) - 1`` with
    ``X = (1 + u((size+1)^a - 1))^(1/a)``, ``a = 1 - exponent`` (``(size+1)^u`` at 1)."""
    edges = np.arange(1, size + 2, dtype=np.float64)  # X in [r + 1, r + 2) -> rank r
    if abs(exponent - 1.0) < 1e-9:
        cdf = np.log(edges) / math.log(size + 1.0)
    else:
        a = 1.0 - exponent
        cdf = (np.power(edges, a) - 1.0) / (math.pow(size + 1.0, a) - 1.0)
    return np.diff(cdf)


def _pool_distribution(
    items: NDArray[np.int64], appeal: NDArray[np.int64], num_items: int, exponent: float
) -> NDArray[np.float64]:
    """Engagement distribution over the catalogue of a Zipf draw within ``items``."""
    out = np.zeros(num_items)
    ordered = items[np.argsort(appeal[items], kind="stable")]
    out[ordered] = _zipf_probabilities(ordered.shape[0], exponent)
    return out


def preference(world: World) -> NDArray[np.float64]:
    """Ground-truth engagement distribution ``[num_communities, num_items]`` (rows sum to 1):
    the probability that an organic engagement of a community member is each item."""
    cfg = world.config
    m = world.num_items
    appeal = world.item_appeal_rank
    everything = _pool_distribution(
        np.arange(m, dtype=np.int64), appeal, m, cfg.popularity_exponent
    )
    out = np.zeros((cfg.num_communities, m))
    for community in range(cfg.num_communities):
        focused = np.zeros(m)
        for category, weight in zip(
            world.community_categories[community],
            world.community_category_weights[community],
            strict=True,
        ):
            in_cat = np.flatnonzero(world.item_category == category)
            pool = in_cat[world.item_community[in_cat] == community]
            if pool.size:
                dist = _pool_distribution(pool, appeal, m, cfg.popularity_exponent)
            elif in_cat.size:
                dist = _pool_distribution(in_cat, appeal, m, cfg.popularity_exponent)
            else:
                dist = everything
            focused += weight * dist
        out[community] = cfg.taste_focus * focused + (1 - cfg.taste_focus) * everything
    return out


@dataclass(frozen=True)
class ReplayWorld:
    """What a replay needs of a world: user ids, per-user click and buy probabilities of each
    item, prices and the items each user already has (excluded from rankings)."""

    user_ids: list[str]
    click_probability: NDArray[np.float64]
    buy_given_click: float
    price: NDArray[np.float64]
    seen: NDArray[np.bool_]

    @classmethod
    def from_world(cls, world: World) -> ReplayWorld:
        """The replay view of ``world`` (see the module docstring for the response model)."""
        cfg = world.config
        intensity = cfg.interactions_per_user * cfg.funnel[0]
        clicks = -np.expm1(-intensity * preference(world))[world.user_community]
        seen = np.zeros((world.num_users, world.num_items), dtype=np.bool_)
        seen[world.inter_user, world.inter_item] = True
        return cls(
            list(world.user_ids),
            clicks,
            cfg.funnel[1] * cfg.funnel[2],
            world.item_price.astype(np.float64),
            seen,
        )

    def expected_ctr(self, ranking: NDArray[np.int64]) -> float:
        """The ground-truth CTR of serving ``ranking`` (``[users, k]`` item indices) to all."""
        return float(np.take_along_axis(self.click_probability, ranking, axis=1).mean())


def top_k(scores: NDArray[np.floating], seen: NDArray[np.bool_], k: int) -> NDArray[np.int64]:
    """Per user, the ``k`` best-scored unseen items, best first (ties: lower index).

    Args:
        scores: ``[users, items]``, or ``[items]`` for one score vector shared by all users.
        seen: ``[users, items]``; true entries are never chosen.
        k: Items per user, ``1 <= k <= items``.

    Raises:
        ValueError: if ``k`` is out of range or a user has fewer than ``k`` unseen items.
    """
    num_users, num_items = seen.shape
    if not 1 <= k <= num_items:
        raise ValueError(f"k must be in [1, {num_items}], got {k}")
    if int((~seen).sum(axis=1).min(initial=num_items)) < k:
        raise ValueError(f"k={k} exceeds the unseen items of some user; use a smaller k")
    full = np.broadcast_to(scores, (num_users, num_items)).astype(np.float64)
    full = np.where(seen, -np.inf, full)
    top = np.argpartition(-full, k - 1, axis=1)[:, :k]
    order = np.lexsort((top, -np.take_along_axis(full, top, axis=1)), axis=1)
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


def popularity_scores(world: World) -> NDArray[np.float64]:
    """Distinct users per item (the ``popular`` strategy's order)."""
    pairs = np.unique(world.inter_user.astype(np.int64) * world.num_items + world.inter_item)
    return np.bincount(pairs % world.num_items, minlength=world.num_items).astype(np.float64)


def replay(
    view: ReplayWorld,
    experiment: Experiment,
    rankings: dict[str, NDArray[np.int64]],
    *,
    seed: int,
) -> UserOutcomes:
    """Serve every user of ``view`` once through ``experiment`` and draw their responses.

    Args:
        view: The world.
        experiment: Variants and shares (users are assigned by its salt).
        rankings: Variant name -> ``[users, k]`` item indices it serves.
        seed: Seed of the click and purchase draws.

    Raises:
        ValueError: if a variant has no ranking.
    """
    missing = set(experiment.variant_names) - set(rankings)
    if missing:
        raise ValueError(f"no ranking for variant(s) {sorted(missing)}")
    rng = np.random.default_rng(seed)
    variant = np.array([assign(experiment, u) for u in view.user_ids], dtype=np.str_)
    k = next(iter(rankings.values())).shape[1]
    served = np.zeros((len(view.user_ids), k), dtype=np.int64)
    for name in experiment.variant_names:
        rows = variant == name
        served[rows] = rankings[name][rows]
    p_click = np.take_along_axis(view.click_probability, served, axis=1)
    clicked = rng.random(p_click.shape) < p_click
    bought = clicked & (rng.random(p_click.shape) < view.buy_given_click)
    return UserOutcomes(
        list(view.user_ids),
        variant,
        np.full(len(view.user_ids), float(k)),
        clicked.sum(axis=1).astype(np.float64),
        bought.sum(axis=1).astype(np.float64),
        (bought * view.price[served]).sum(axis=1),
    )


def two_arm(salt: str) -> Experiment:
    """An even A/B split named ``a`` / ``b`` with ``salt``."""
    return Experiment("replay", (Variant("a", 0.5), Variant("b", 0.5)), salt=salt)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One A/B replay: ground-truth and observed CTR difference ``b - a`` and its test."""

    expected_difference: float
    observed: st.Difference
    significant: bool

    @property
    def right_sign(self) -> bool:
        """Significant, with the sign of the ground-truth difference."""
        return self.significant and (
            math.copysign(1, self.observed.difference) == math.copysign(1, self.expected_difference)
        )


def ab_replay(
    view: ReplayWorld,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    *,
    seed: int,
    alpha: float = 0.05,
) -> ReplayResult:
    """Replay ``a`` against ``b`` (even split, salt from ``seed``) and test the CTR."""
    out = replay(view, two_arm(f"replay-{seed}"), {"a": a, "b": b}, seed=seed)
    control, treatment = (out.select(out.variant == v) for v in ("a", "b"))
    tests = compare(control, treatment, names=("a", "b"), alpha=alpha, resamples=10)
    ctr = next(c for c in tests if c.metric == PRIMARY_METRIC)
    return ReplayResult(view.expected_ctr(b) - view.expected_ctr(a), ctr.result, ctr.significant)


def false_positive_rate(
    view: ReplayWorld,
    ranking: NDArray[np.int64],
    *,
    replays: int,
    seed: int = 0,
    alpha: float = 0.05,
) -> float:
    """Share of A/A replays (both arms serve ``ranking``) whose CTR test is significant.

    Each replay reshuffles users (a new salt) and redraws responses (a new seed)."""
    hits = [
        ab_replay(view, ranking, ranking, seed=seed + r, alpha=alpha).significant
        for r in range(replays)
    ]
    return float(np.mean(hits))


def detection_rate(
    view: ReplayWorld,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    *,
    replays: int,
    seed: int = 0,
    alpha: float = 0.05,
) -> float:
    """Share of replays of ``a`` vs ``b`` finding the difference with the ground truth's sign."""
    results: Sequence[ReplayResult] = [
        ab_replay(view, a, b, seed=seed + r, alpha=alpha) for r in range(replays)
    ]
    return float(np.mean([r.right_sign for r in results]))


def ranking(
    name: str, world: World, view: ReplayWorld, *, k: int, epochs: int = 40, seed: int = 0
) -> NDArray[np.int64]:
    """The ``[users, k]`` items ranker ``name`` (one of :data:`RANKERS`) serves in ``world``.

    ``lightgcn`` and ``social`` train that model on the world's snapshot for at most
    ``epochs`` epochs (early-stopped on validation NDCG@10, as ``socialrec train`` does).

    Raises:
        ValueError: if ``name`` is not in :data:`RANKERS`.
    """
    if name == "popular":
        return top_k(popularity_scores(world), view.seen, k)
    if name == "oracle":
        return top_k(view.click_probability, view.seen, k)
    if name == "random":
        return top_k(np.random.default_rng(seed).random(view.seen.shape), view.seen, k)
    if name not in RANKERS:
        raise ValueError(f"ranker must be one of {RANKERS}, got {name!r}")
    config = TrainConfig.for_model(
        name, epochs=epochs, warmup_epochs=min(5, epochs), patience=10, eval_every=5, seed=seed
    )
    result = train(world.to_snapshot(), config)
    index = {u: i for i, u in enumerate(result.data.user_ids)}
    users = result.user_embeddings[[index[u] for u in view.user_ids]].numpy()
    item_index = {item: i for i, item in enumerate(result.data.item_ids)}
    items = result.item_embeddings[[item_index[i] for i in world.item_ids]].numpy()
    return top_k(users @ items.T, view.seen, k)


@dataclass(frozen=True, slots=True)
class Simulation:
    """The outcome of :func:`simulate`: ground-truth CTR of each ranker, the A/A
    false-positive rate (``a`` against itself) and the A/B detection rate."""

    a: str
    b: str
    expected_ctr: dict[str, float]
    aa_false_positive_rate: float
    detection_rate: float
    first: ReplayResult
    replays: int
    alpha: float

    @property
    def detected_sign(self) -> int:
        """1 when the first A/B replay finds the difference with the ground truth's sign."""
        return int(self.first.right_sign)


def simulate(
    config: WorldConfig,
    a: str,
    b: str,
    *,
    replays: int = 100,
    k: int = 10,
    alpha: float = 0.05,
    epochs: int = 40,
    progress: Callable[[str], None] | None = None,
) -> Simulation:
    """Generate the world of ``config``, rank with ``a`` and ``b`` and replay: ``replays``
    A/A runs of ``a`` and ``replays`` A/B runs of ``a`` against ``b`` (seeds from
    ``config.seed``).

    Raises:
        ValueError: if ``replays < 1`` or a ranker is unknown.
    """
    if replays < 1:
        raise ValueError(f"replays must be >= 1, got {replays}")
    say = progress or (lambda _: None)
    say(f"world: {config.num_users} users, {config.num_items} items")
    world = generate_world(config)
    view = ReplayWorld.from_world(world)
    ranked = {}
    for name in dict.fromkeys((a, b)):
        say(f"ranking with {name}")
        ranked[name] = ranking(name, world, view, k=k, epochs=epochs, seed=config.seed)
    say(f"{replays} A/A and {replays} A/B replays")
    seed = config.seed * 1_000_003
    return Simulation(
        a,
        b,
        {name: view.expected_ctr(r) for name, r in ranked.items()},
        false_positive_rate(view, ranked[a], replays=replays, seed=seed, alpha=alpha),
        detection_rate(view, ranked[a], ranked[b], replays=replays, seed=seed, alpha=alpha),
        ab_replay(view, ranked[a], ranked[b], seed=seed, alpha=alpha),
        replays,
        alpha,
    )
