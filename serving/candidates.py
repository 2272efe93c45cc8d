"""Two-stage scoring: each user's top-N items by model score, kept per served model.

Ranking scores are ``model + boost`` where the social-proof boost is 0 for items no friend
interacted with. For a user served with the model's own vector, every item outside their N
best by model score scores at most the N-th best (the *floor*). So the exact top-k of the
ranking lies in ``top-N ∪ friends' items`` whenever the k-th best of that pool (after filters
and seen items) beats the floor; otherwise the caller scores the whole catalogue.

The first request of a user scores the catalogue and stores their stage here; later requests
score only the pool (a few hundred rows instead of the catalogue). Stages depend on the model
alone (never on live events), so they never go stale; a reload serves a new model with a new
cache. Memory is bounded: least recently used users are dropped beyond ``capacity``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from serving.scoring import score_scale


@dataclass(frozen=True, slots=True)
class Stage:
    """One user's candidate stage.

    Attributes:
        items: the ``size`` best item indices by model score (any order).
        floor: the smallest model score among them; no other item scores more.
        scale: :func:`serving.scoring.score_scale` of all the user's model scores.
    """

    items: NDArray[np.int32]
    floor: float
    scale: float

    @classmethod
    def from_scores(cls, scores: NDArray[np.float64], size: int) -> Stage:
        """The stage of a user whose model scores over the whole catalogue are ``scores``."""
        if size >= scores.shape[0]:
            items = np.arange(scores.shape[0], dtype=np.int32)
        else:
            items = np.argpartition(-scores, size - 1)[:size].astype(np.int32)
        return cls(items, float(scores[items].min()), score_scale(scores))


class CandidateCache:
    """Thread-safe LRU of :class:`Stage` by user row of the served model.

    Args:
        size: candidates per user (N), ``>= 1``.
        capacity: most users kept, ``>= 1``.
    """

    def __init__(self, size: int, capacity: int) -> None:
        if size < 1 or capacity < 1:
            raise ValueError(f"size and capacity must be >= 1, got {size} and {capacity}")
        self.size = size
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._stages: OrderedDict[int, Stage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, row: int) -> Stage | None:
        """The stage of user ``row``, if kept (counts a hit or a miss)."""
        with self._lock:
            stage = self._stages.get(row)
            if stage is None:
                self.misses += 1
                return None
            self._stages.move_to_end(row)
            self.hits += 1
            return stage

    def remember(self, row: int, scores: NDArray[np.float64]) -> Stage:
        """Store (and return) the stage of user ``row`` from their catalogue ``scores``."""
        stage = Stage.from_scores(scores, self.size)
        with self._lock:
            self._stages[row] = stage
            self._stages.move_to_end(row)
            while len(self._stages) > self.capacity:
                self._stages.popitem(last=False)
        return stage
