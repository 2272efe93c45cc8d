"""Training data for the recommender: a seeded per-user split and the normalised adjacency.

The run order is snapshot -> :func:`split_interactions` -> :class:`TrainData` ->
:func:`normalized_adjacency` -> model. Interactions are implicit feedback: repeated
``(user, item)`` pairs (several kinds, several timestamps) count once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from graph.schema import INTERACTION_KINDS, TRAINING_KINDS
from graph.snapshot import Snapshot

#: Default train / valid / test ratios (the RecBole protocol).
DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitIndices:
    """Positions into the deduplicated pair arrays, one array per split.

    Attributes:
        user: user index of each distinct ``(user, item)`` pair, sorted by ``(user, item)``.
        item: item index of each pair.
        train / valid / test: sorted positions into ``user`` / ``item``; disjoint, and
            together they cover every pair.
    """

    user: NDArray[np.int64]
    item: NDArray[np.int64]
    train: NDArray[np.int64]
    valid: NDArray[np.int64]
    test: NDArray[np.int64]


def _split_counts(
    n: NDArray[np.int64], ratios: tuple[float, float, float]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per-user (train, valid, test) counts, RecBole's ``_calcu_split_ids`` rule vectorised."""
    valid = np.floor(ratios[1] * n).astype(np.int64)
    test = np.floor(ratios[2] * n).astype(np.int64)
    train = n - valid - test
    # Small users: a split whose share is in (0, 1) gets one pair, test first, while more
    # than one pair is left for training.
    for share, counts in ((ratios[2] * n, test), (ratios[1] * n, valid)):
        bump = (train > 1) & (share > 0) & (share < 1)
        counts += bump
        train -= bump
    return train, valid, test


def split_interactions(
    user: NDArray[np.integer] | Sequence[int],
    item: NDArray[np.integer] | Sequence[int],
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    *,
    seed: int,
) -> SplitIndices:
    """Split implicit-feedback interactions per user at random into train / valid / test.

    Pairs are deduplicated first. Each user's distinct items are shuffled (seeded) and cut
    by RecBole's rule: ``valid = floor(r_valid * n)``, ``test = floor(r_test * n)``, the rest
    is train; then, for a user with so few pairs that ``0 < r * n < 1``, test and then valid
    take one pair each as long as more than one pair stays in train. So a user with 1 pair
    has it in train, 2 pairs give 1 train + 1 test, 3..9 pairs give 1 valid + 1 test and the
    rest train, and every user with pairs has at least one training pair.

    Args:
        user: user index of each interaction.
        item: item index of each interaction (same length).
        ratios: non-negative (train, valid, test) weights, normalised to sum 1; train > 0.
        seed: seed of the shuffle (same seed and input -> same split).

    Returns:
        The deduplicated pairs and the positions of each split.

    Raises:
        ValueError: on mismatched lengths, negative indices or invalid ratios.
    """
    users = np.asarray(user, dtype=np.int64).reshape(-1)
    items = np.asarray(item, dtype=np.int64).reshape(-1)
    if users.shape != items.shape:
        raise ValueError(
            f"user and item must have the same length, got {users.size} and {items.size}"
        )
    if len(ratios) != 3 or any(not np.isfinite(r) or r < 0 for r in ratios) or ratios[0] <= 0:
        raise ValueError(
            f"ratios must be three finite non-negative weights with train > 0, got {ratios!r}"
        )
    if users.size and (users.min() < 0 or items.min() < 0):
        raise ValueError("user and item indices must be non-negative")
    total = float(sum(ratios))
    if abs(total - 1.0) > 1e-9:  # keep exact shares such as 0.1 when they already sum to 1
        ratios = (ratios[0] / total, ratios[1] / total, ratios[2] / total)

    num_items = int(items.max()) + 1 if items.size else 1
    keys = np.unique(users * num_items + items)
    pair_user, pair_item = keys // num_items, keys % num_items
    rng = np.random.default_rng(seed)
    order = rng.permutation(keys.size)
    order = order[np.argsort(pair_user[order], kind="stable")]  # grouped by user, shuffled
    _, start, count = np.unique(pair_user[order], return_index=True, return_counts=True)
    rank = np.arange(keys.size) - np.repeat(start, count)
    train_n, valid_n, _ = _split_counts(count.astype(np.int64), ratios)
    train_cut = np.repeat(train_n, count)
    valid_cut = train_cut + np.repeat(valid_n, count)
    which = np.where(rank < train_cut, 0, np.where(rank < valid_cut, 1, 2))
    parts = [np.sort(order[which == s]) for s in range(3)]
    return SplitIndices(pair_user, pair_item, parts[0], parts[1], parts[2])


def csr_from_pairs(user: Tensor, item: Tensor, num_users: int) -> tuple[Tensor, Tensor]:
    """Per-user item lists as CSR ``(indptr [num_users + 1], indices)``, sorted by user."""
    order = torch.argsort(user * (int(item.max()) + 1 if item.numel() else 1) + item)
    counts = torch.bincount(user, minlength=num_users)
    indptr = torch.zeros(num_users + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=indptr[1:])
    return indptr, item[order].contiguous()


@dataclass
class TrainData:
    """Interactions of one snapshot split for training and evaluation.

    Attributes:
        num_users / num_items: sizes of the id spaces (every snapshot user and item, including
            those without interactions).
        train_user / train_item, valid_user / valid_item, test_user / test_item: int64 pairs
            of each split, sorted by ``(user, item)``.
        train_indptr / train_indices: the training pairs as per-user CSR.
        user_ids / item_ids: index -> id maps (``str(index)`` when built from arrays).
        fingerprint: fingerprint of the source snapshot (empty when built from arrays).
        seed / ratios / kinds: how the split was made, to rebuild it exactly.
        social_src / social_dst: int64 directed social edges between user indices (a mutual
            friendship appears in both directions); empty when the source has none.
    """

    num_users: int
    num_items: int
    train_user: Tensor
    train_item: Tensor
    valid_user: Tensor
    valid_item: Tensor
    test_user: Tensor
    test_item: Tensor
    train_indptr: Tensor
    train_indices: Tensor
    user_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    fingerprint: str = ""
    seed: int = 0
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    kinds: tuple[str, ...] | None = None
    social_src: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    social_dst: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    @classmethod
    def from_interactions(
        cls,
        user: NDArray[np.integer] | Sequence[int],
        item: NDArray[np.integer] | Sequence[int],
        num_users: int,
        num_items: int,
        *,
        seed: int,
        ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    ) -> TrainData:
        """Split index arrays with :func:`split_interactions` (ids become ``str(index)``).

        Raises:
            ValueError: if an index is outside ``[0, num_users)`` / ``[0, num_items)``.
        """
        users = np.asarray(user, dtype=np.int64).reshape(-1)
        items = np.asarray(item, dtype=np.int64).reshape(-1)
        if users.size and (users.max() >= num_users or users.min() < 0):
            raise ValueError(f"user indices must lie in [0, {num_users}), got max {users.max()}")
        if items.size and (items.max() >= num_items or items.min() < 0):
            raise ValueError(f"item indices must lie in [0, {num_items}), got max {items.max()}")
        split = split_interactions(users, items, ratios, seed=seed)

        def pairs(pos: NDArray[np.int64]) -> tuple[Tensor, Tensor]:
            return torch.from_numpy(split.user[pos]), torch.from_numpy(split.item[pos])

        (tu, ti), (vu, vi), (su, si) = pairs(split.train), pairs(split.valid), pairs(split.test)
        indptr, indices = csr_from_pairs(tu, ti, num_users)
        return cls(
            num_users=num_users,
            num_items=num_items,
            train_user=tu,
            train_item=ti,
            valid_user=vu,
            valid_item=vi,
            test_user=su,
            test_item=si,
            train_indptr=indptr,
            train_indices=indices,
            user_ids=[str(i) for i in range(num_users)],
            item_ids=[str(i) for i in range(num_items)],
            seed=seed,
            ratios=ratios,
        )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: Snapshot,
        *,
        seed: int,
        kinds: Sequence[str] | None = None,
        ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    ) -> TrainData:
        """Split a snapshot's interactions (optionally only some kinds) per user.

        Args:
            snapshot: the exported graph.
            seed: split seed.
            kinds: interaction kinds to use (e.g. ``["purchase", "cart"]``); ``None`` = every
                kind but ``tag`` (``graph.schema.TRAINING_KINDS``).
            ratios: (train, valid, test) weights.

        Raises:
            ValueError: if ``kinds`` names an unknown kind or the snapshot has no interactions.
        """
        default = [INTERACTION_KINDS.index(k) for k in TRAINING_KINDS]
        mask = np.isin(snapshot.inter_kind, default)
        if kinds is not None:
            unknown = sorted(set(kinds) - set(INTERACTION_KINDS))
            if unknown or not kinds:
                raise ValueError(
                    f"kinds must be a non-empty subset of {INTERACTION_KINDS}, got {list(kinds)}"
                )
            codes = [INTERACTION_KINDS.index(k) for k in kinds]
            mask = np.isin(snapshot.inter_kind, codes)
        if not mask.any():
            raise ValueError(
                f"snapshot {snapshot.fingerprint[:12]} has no interactions"
                + (f" of kinds {list(kinds)}" if kinds is not None else "")
            )
        data = cls.from_interactions(
            snapshot.inter_user[mask],
            snapshot.inter_item[mask],
            snapshot.num_users,
            snapshot.num_items,
            seed=seed,
            ratios=ratios,
        )
        data.user_ids = list(snapshot.user_ids)
        data.item_ids = list(snapshot.item_ids)
        data.fingerprint = snapshot.fingerprint
        data.kinds = tuple(kinds) if kinds is not None else None
        data.social_src = torch.from_numpy(np.asarray(snapshot.social_src, dtype=np.int64))
        data.social_dst = torch.from_numpy(np.asarray(snapshot.social_dst, dtype=np.int64))
        return data

    def pairs(self, split: str) -> tuple[Tensor, Tensor]:
        """The ``(user, item)`` tensors of ``split`` (``"train"``, ``"valid"`` or ``"test"``).

        Raises:
            ValueError: if ``split`` is not a split name.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, f"{split}_user"), getattr(self, f"{split}_item")


def normalized_adjacency(user: Tensor, item: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""The symmetric-normalised user-item adjacency :math:`D^{-1/2} A D^{-1/2}` as sparse CSR.

    Nodes are users ``0..num_users-1`` followed by items ``num_users..num_users+num_items-1``;
    each distinct training pair gives the two entries ``(u, U + i)`` and ``(U + i, u)`` with
    value :math:`1 / \sqrt{\deg(u) \deg(i)}`. Isolated nodes get empty rows. The matrix is
    symmetric, which :class:`gnn.models.lightgcn.LightGCN` relies on for its backward pass.

    Args:
        user: int64 ``[E]`` user indices of the training pairs (duplicates are merged).
        item: int64 ``[E]`` item indices.
        num_users: number of users ``U``.
        num_items: number of items ``I``.

    Returns:
        float32 sparse CSR tensor of shape ``[U + I, U + I]`` (int32 indices when they fit).

    Raises:
        ValueError: if the shapes differ or an index is out of range.
    """
    if user.shape != item.shape or user.dim() != 1:
        raise ValueError(
            f"user and item must be 1-D of equal length, got {tuple(user.shape)} and "
            f"{tuple(item.shape)}"
        )
    if user.numel() and (int(user.max()) >= num_users or int(item.max()) >= num_items):
        raise ValueError(f"indices out of range for num_users={num_users}, num_items={num_items}")
    num_nodes = num_users + num_items
    key = torch.unique(user.long() * num_items + item.long())
    u, i = key // num_items, key % num_items + num_users
    return _symmetric_normalized(torch.cat([u, i]), torch.cat([i, u]), num_nodes)


def normalized_social_adjacency(src: Tensor, dst: Tensor, num_users: int) -> Tensor:
    r"""The symmetric-normalised friend graph :math:`D_S^{-1/2} S D_S^{-1/2}` as sparse CSR.

    Every edge is made undirected (a follow counts as a tie both ways), duplicates and
    self-loops are dropped, and users without ties get empty rows.

    Args:
        src: int64 ``[E]`` source user indices of the social edges.
        dst: int64 ``[E]`` target user indices.
        num_users: number of users ``U``.

    Returns:
        float32 sparse CSR tensor of shape ``[U, U]``, symmetric (int32 indices when they fit).

    Raises:
        ValueError: if the shapes differ or an index is out of range.
    """
    if src.shape != dst.shape or src.dim() != 1:
        raise ValueError(
            f"src and dst must be 1-D of equal length, got {tuple(src.shape)} and "
            f"{tuple(dst.shape)}"
        )
    if src.numel() and (
        int(torch.minimum(src, dst).min()) < 0 or int(torch.maximum(src, dst).max()) >= num_users
    ):
        raise ValueError(f"social indices out of range for num_users={num_users}")
    a, b = src.long(), dst.long()
    keep = a != b
    a, b = a[keep], b[keep]
    key = torch.unique(torch.cat([a * num_users + b, b * num_users + a]))
    return _symmetric_normalized(key // num_users, key % num_users, num_users)


def _symmetric_normalized(row: Tensor, col: Tensor, num_nodes: int) -> Tensor:
    """CSR of :math:`D^{-1/2} A D^{-1/2}` for the distinct symmetric entries ``(row, col)``."""
    deg = torch.bincount(row, minlength=num_nodes).to(torch.float32)
    dinv = deg.pow(-0.5)
    dinv[deg == 0] = 0.0
    value = dinv[row] * dinv[col]
    order = torch.argsort(row * num_nodes + col)
    row, col, value = row[order], col[order], value[order]
    # int32 indices when they fit: MKL's sparse kernels behind torch.addmm take int32 and
    # would convert int64 indices on every product.
    index_dtype = torch.int32 if max(num_nodes, row.numel()) < 2**31 else torch.long
    crow = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(row, minlength=num_nodes), 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow.to(index_dtype),
            col.to(index_dtype),
            value,
            (num_nodes, num_nodes),
            check_invariants=False,
        )
