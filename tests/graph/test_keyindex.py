"""KeyIndex: where each key was first seen, against a dict, with real and colliding mixes."""

from __future__ import annotations

import numpy as np
import pytest

from graph import keyindex
from graph.keyindex import KeyIndex


def _batches(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for size in rng.integers(0, 60, size=40):
        k1 = rng.integers(0, 25, size=size).astype(np.uint64)
        k2 = rng.integers(0, 4, size=size).astype(np.uint64)
        out.append((k1, k2))
    return out


def _check(index: KeyIndex, seed: int) -> None:
    first: dict[tuple[int, int], tuple[int, int]] = {}
    line = 0
    for file, (k1, k2) in enumerate(_batches(seed)):
        lines = np.arange(line + 1, line + 1 + len(k1), dtype=np.int64) * (-1) ** file
        line += len(k1)
        found_file, found_line = index.earlier(k1, k2, file, lines)
        for j, key in enumerate(zip(k1.tolist(), k2.tolist(), strict=True)):
            expected = first.get(key)
            got = (int(found_file[j]), int(found_line[j]))
            assert got == (expected if expected is not None else (-1, 0))
            first.setdefault(key, (file, int(lines[j])))
    assert len(index) == len(first)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_occurrences_match_a_dict(seed: int) -> None:
    _check(KeyIndex(), seed)


@pytest.mark.parametrize("seed", [3, 4])
def test_keys_whose_mixes_collide_are_told_apart(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyindex, "_mix", lambda k1, k2: (k1 + k2) % np.uint64(5))
    monkeypatch.setattr(keyindex, "MAX_RUN", 150)  # some runs stay unmerged
    _check(KeyIndex(), seed)
