"""The one place global random state is seeded; called from entry points only."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators (library code takes explicit seeds)."""
    random.seed(seed)
    np.random.seed(seed)  # legacy global state, still used by third-party code
    torch.manual_seed(seed)
