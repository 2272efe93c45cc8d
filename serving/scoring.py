"""Pure scoring rules of social serving: social-proof boost, fold-in, author closeness and
frequency capping. Arrays in, arrays out; no state, so each rule is unit-tested alone and can be
replayed offline (e.g. to measure the boost's effect on NDCG).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import torch
from numpy.typing import NDArray

#: Closeness of a feed post's author to the viewer, by relation (1 = strongest).
CLOSENESS: Final[dict[str, float]] = {"friend": 1.0, "follow": 0.7, "friend_of_friend": 0.3}


def score_scale(scores: NDArray[np.float64]) -> float:
    """The standard deviation of the finite entries of ``scores`` (1.0 if it is 0 or none
    are finite): the unit in which boosts are expressed, so they do not depend on how large
    a model's inner products happen to be."""
    is_finite = np.isfinite(scores)
    finite = scores if is_finite.all() else scores[is_finite]
    if finite.size < 2:
        return 1.0
    std = float(finite.std())
    return std if std > 0 and math.isfinite(std) else 1.0


def social_boost(
    scores: NDArray[np.float64], friend_counts: NDArray[np.float64], beta: float
) -> NDArray[np.float64]:
    """Add social proof to model scores.

    ``boosted = score + beta * scale * log1p(friend_count)``, ``scale`` being
    :func:`score_scale` of ``scores``: with ``beta = 0.1`` one friend who interacted with an
    item is worth about 0.07 standard deviations of the user's scores, ten friends 0.24.
    Masked (``-inf``) entries stay masked.

    Args:
        scores: model scores, shape ``[n]`` (``-inf`` = excluded).
        friend_counts: how many of the user's friends interacted with each item, ``[n]``.
        beta: boost strength, ``>= 0`` (0 disables it).

    Raises:
        ValueError: if shapes differ or ``beta`` is negative.
    """
    if scores.shape != friend_counts.shape:
        raise ValueError(
            f"scores and friend_counts must have equal shapes, got {scores.shape} "
            f"and {friend_counts.shape}"
        )
    if beta < 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a finite number >= 0, got {beta}")
    boosted = scores.astype(np.float64, copy=True)
    touched = np.flatnonzero(friend_counts)  # usually a few hundred of the whole catalogue
    if beta > 0 and touched.size:
        boosted[touched] += beta * score_scale(scores) * np.log1p(friend_counts[touched])
    return boosted


def standardize(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(scores - mean) / std`` over the finite entries (std 0 -> all finite entries 0)."""
    out = np.asarray(scores, dtype=np.float64).copy()
    finite = np.isfinite(out)
    if finite.any():
        out[finite] = (out[finite] - out[finite].mean()) / score_scale(out)
        if np.ptp(out[finite]) == 0:
            out[finite] = 0.0
    return out


def fold_in(
    item_vectors: torch.Tensor, base: torch.Tensor | None = None, base_weight: int = 0
) -> torch.Tensor:
    """A user vector from item vectors, the way LightGCN propagates a user (one layer).

    Without ``base`` it is the mean of ``item_vectors`` (rows ``[n, dim]``): the normalised
    sum of the user's neighbours. With a ``base`` vector learned from ``base_weight``
    interactions, the new items move it by their share:
    ``(base_weight * base + sum(items)) / (base_weight + n)``.

    Raises:
        ValueError: if ``item_vectors`` is empty and there is no ``base``, or
            ``base_weight < 0``.
    """
    if base_weight < 0:
        raise ValueError(f"base_weight must be >= 0, got {base_weight}")
    n = item_vectors.shape[0]
    if base is None or base_weight == 0:
        if n == 0:
            if base is not None:
                return base.clone()
            raise ValueError("item_vectors must have at least one row when base is None")
        return item_vectors.mean(dim=0)
    return (base_weight * base + item_vectors.sum(dim=0)) / (base_weight + n)


def capped(impressions: NDArray[np.int64], cap: int) -> NDArray[np.bool_]:
    """Which entries reached the frequency cap: ``impressions >= cap``.

    Raises:
        ValueError: if ``cap < 1``.
    """
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    return np.asarray(impressions) >= cap
