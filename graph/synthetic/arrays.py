"""Vectorised numpy helpers shared by generation, statistics and writing (draws and segments)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

#: Rows processed per vectorised step (bounds peak memory on large worlds).
CHUNK: Final[int] = 1 << 21


def zipf_rank(rng: np.random.Generator, size: NDArray[np.int64], exponent: float) -> Any:
    """A rank in ``[0, size)`` per entry, P(rank r) roughly proportional to (r + 1) ** -exponent."""
    u = rng.random(size.shape[0])
    top = size.astype(np.float64) + 1.0
    if abs(exponent - 1.0) < 1e-9:
        x = np.power(top, u)
    else:
        a = 1.0 - exponent
        x = np.power(1.0 + u * (np.power(top, a) - 1.0), 1.0 / a)
    return np.minimum(np.floor(x).astype(np.int64) - 1, size - 1)


def row_choice(rng: np.random.Generator, cumulative: NDArray[np.float64]) -> Any:
    """One column index per row of a row-wise cumulative probability matrix."""
    u = rng.random((cumulative.shape[0], 1))
    return np.minimum((u >= cumulative).sum(axis=1), cumulative.shape[1] - 1)


def segments(keys: NDArray[np.int64], num_keys: int) -> tuple[Any, Any, Any]:
    """(order sorting ``keys``, start offset per key, count per key)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=num_keys)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts, counts


def expand(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> tuple[Any, Any]:
    """For segments (start, count): (owner index, position) of every element, concatenated."""
    owner = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.cumsum(counts) - counts
    offset = np.arange(owner.shape[0]) - np.repeat(first, counts)
    return owner, np.repeat(starts, counts) + offset


def sorted_unique(values: NDArray[np.int64]) -> Any:
    """Sorted distinct values (a sort and a diff: faster than ``np.unique`` on large int keys)."""
    ordered = np.sort(values, kind="stable")
    keep = np.ones(ordered.shape[0], dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def contains(sorted_keys: NDArray[np.int64], values: NDArray[np.int64]) -> Any:
    """Whether each of ``values`` is in the sorted array ``sorted_keys``."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.shape[0] - 1)
    return sorted_keys[pos] == values


def delay(rng: np.random.Generator, mean: float, size: int) -> Any:
    """``size`` whole-second delays, at least 1, exponential with mean about ``mean``."""
    return 1 + np.floor(rng.exponential(mean, size)).astype(np.int64)
