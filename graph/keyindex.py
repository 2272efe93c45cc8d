"""The first occurrence of every edge key of one load, for duplicate detection in bulk.

A key is two unsigned 64-bit words (the validator packs integer id codes, kinds and times into
them, so keys are exact, never hashes). The index keeps, per key, where it was first seen
(file number and signed line) in sorted runs of a 64-bit mix of the key: a lookup is one
binary search per run, a hit is confirmed on the key's two words, and runs are merged as
they grow (about log2(keys / batch) runs, plus one per :data:`MAX_RUN` keys), so a batch
costs O(batch x runs). Memory: 36 bytes per distinct key, plus a merge's copy of at most
:data:`MAX_RUN` keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
#: Runs are not merged past this many keys (bounds the memory a merge needs besides the index).
MAX_RUN: Final[int] = 8_000_000
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)


def _mix(k1: U64, k2: U64) -> U64:
    """A 64-bit mix of two words (splitmix64's finaliser over ``k1 * golden ^ k2``)."""
    with np.errstate(over="ignore"):
        x = (k1 * _GOLDEN) ^ k2
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


@dataclass(slots=True)
class _Run:
    mix: U64
    k1: U64
    k2: U64
    file: NDArray[np.int32]
    line: I64

    def __len__(self) -> int:
        return len(self.mix)


def _sorted_run(mix: U64, k1: U64, k2: U64, file: NDArray[np.int32], line: I64) -> _Run:
    order = np.argsort(mix, kind="stable")
    return _Run(mix[order], k1[order], k2[order], file[order], line[order])


class KeyIndex:
    """Where each key was first seen, across the batches of one table."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def earlier(self, k1: U64, k2: U64, file: int, line: I64) -> tuple[NDArray[np.int32], I64]:
        """For the rows of one batch (in line order), where their key was seen before: in an
        earlier batch or an earlier row of this one (file number, signed line; file -1 when
        never). Keys seen for the first time are recorded at their row's ``file``/``line``.
        """
        n = len(k1)
        found_file = np.full(n, -1, dtype=np.int32)
        found_line = np.zeros(n, dtype=np.int64)
        if n == 0:
            return found_file, found_line
        mix = _mix(k1, k2)
        first = _first_in_batch(mix, k1, k2)
        heads = np.flatnonzero(first == np.arange(n))
        # In mix order: consecutive binary searches end near each other (cache hits).
        heads = heads[np.argsort(mix[heads], kind="stable")]
        for run in self._runs:
            self._look_up(run, mix, k1, k2, heads, found_file, found_line)
        later = first != np.arange(n)
        # A later row of the batch: seen before this batch, or at its key's first row here.
        inherited = found_file[first]
        found_line[later] = np.where(
            inherited[later] >= 0, found_line[first][later], line[first][later]
        )
        found_file[later] = np.where(inherited[later] >= 0, inherited[later], file)
        new = heads[found_file[heads] < 0]
        if len(new):
            files = np.full(len(new), file, dtype=np.int32)
            self._runs.append(_sorted_run(mix[new], k1[new], k2[new], files, line[new]))
            self._merge()
        return found_file, found_line

    @staticmethod
    def _look_up(
        run: _Run,
        mix: U64,
        k1: U64,
        k2: U64,
        rows: I64,
        found_file: NDArray[np.int32],
        found_line: I64,
    ) -> None:
        rows = rows[found_file[rows] < 0]
        at = np.searchsorted(run.mix, mix[rows])
        inside = at < len(run)
        rows, at = rows[inside], at[inside]
        hit = run.mix[at] == mix[rows]
        rows, at = rows[hit], at[hit]
        same = (run.k1[at] == k1[rows]) & (run.k2[at] == k2[rows])
        found_file[rows[same]] = run.file[at[same]]
        found_line[rows[same]] = run.line[at[same]]
        for row, start in zip(rows[~same].tolist(), at[~same].tolist(), strict=True):
            j = start + 1  # another key with the same mix: look at the rest of its range
            while j < len(run) and run.mix[j] == mix[row]:
                if run.k1[j] == k1[row] and run.k2[j] == k2[row]:
                    found_file[row], found_line[row] = run.file[j], run.line[j]
                    break
                j += 1

    def _merge(self) -> None:
        runs = self._runs
        while (
            len(runs) > 1
            and len(runs[-2]) <= 2 * len(runs[-1])
            and len(runs[-2]) + len(runs[-1]) <= MAX_RUN
        ):
            b, a = runs.pop(), runs.pop()
            runs.append(
                _sorted_run(
                    np.concatenate((a.mix, b.mix)),
                    np.concatenate((a.k1, b.k1)),
                    np.concatenate((a.k2, b.k2)),
                    np.concatenate((a.file, b.file)),
                    np.concatenate((a.line, b.line)),
                )
            )


def _first_in_batch(mix: U64, k1: U64, k2: U64) -> I64:
    """For each row, the index of the first row of the batch with the same key."""
    n = len(mix)
    position = np.arange(n, dtype=np.int64)
    order = np.lexsort((position, mix))
    m, a, b = mix[order], k1[order], k2[order]
    starts = np.ones(n, dtype=np.bool_)
    starts[1:] = (m[1:] != m[:-1]) | (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    if (starts[1:] & (m[1:] == m[:-1])).any():  # two keys share a mix: group exactly
        keys: dict[tuple[int, int], int] = {}
        return np.array(
            [
                keys.setdefault(k, i)
                for i, k in enumerate(zip(k1.tolist(), k2.tolist(), strict=True))
            ],
            dtype=np.int64,
        )
    group_first = order[np.flatnonzero(starts)]
    first = np.empty(n, dtype=np.int64)
    first[order] = group_first[np.cumsum(starts) - 1]
    return first
