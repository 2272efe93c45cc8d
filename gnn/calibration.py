"""Purchase probability from a recommender's score, fitted on held-out interactions.

A score ``s_ui = user_emb[u] . item_emb[i]`` ranks items for a user but is not a probability,
and scores of different items or models are not comparable. :func:`fit_purchase_calibration`
maps a score to the probability that the item is among the user's *held-out* interactions
(by default the validation split, about a tenth of each user's interactions under the
default 80/10/10 split): ``P(i in held-out(u) | s_ui)``, an isotonic (non-decreasing) function of
the score fitted by pool-adjacent-violators (:func:`scipy.optimize.isotonic_regression`).

Pairs: every user with held-out items contributes those items (label 1) and ``negatives``
items drawn uniformly from the catalogue (label 0; draws that hit the user's training or
held-out items are dropped). Each negative is weighted by ``candidates / kept`` (``candidates``:
items neither in the user's training nor held-out set), so the weighted sample stands for all of
the user's candidate items and the fitted probabilities are on the true base rate, not the
sample's.

Reading the number: ``P = 0.02`` means that, among items of that score, about 2 in 100 turn up
in a user's next tenth of interactions; summed over reached users it is the expected number of
them who interact with the item in such a period ("likely buyers" when the log holds purchases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import isotonic_regression
from torch import Tensor

from gnn.data import TrainData


@dataclass(frozen=True)
class PurchaseCalibration:
    """A fitted score -> probability map (piecewise linear through ``knots``/``probs``).

    Attributes:
        knots: increasing scores.
        probs: non-decreasing probabilities at ``knots`` (flat beyond both ends).
        split: the held-out split it was fitted on.
        positives / negatives: labelled pairs used.
        base_rate: weighted share of positives (the mean probability over candidate pairs).
    """

    knots: NDArray[np.float64]
    probs: NDArray[np.float64]
    split: str
    positives: int
    negatives: int
    base_rate: float

    def probability(self, scores: NDArray[np.floating] | Tensor) -> NDArray[np.float64]:
        """Probability for each score (same shape)."""
        s = scores.numpy() if isinstance(scores, Tensor) else np.asarray(scores)
        return np.interp(s.astype(np.float64), self.knots, self.probs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the curve itself is cheap to refit)."""
        return {
            "split": self.split,
            "positives": self.positives,
            "negatives": self.negatives,
            "base_rate": self.base_rate,
            "max_probability": float(self.probs[-1]),
        }


def _split_pairs(data: TrainData, split: str) -> tuple[Tensor, Tensor]:
    if split == "valid":
        return data.valid_user, data.valid_item
    if split == "test":
        return data.test_user, data.test_item
    raise ValueError(f"split must be 'valid' or 'test', got {split!r}")


def fit_purchase_calibration(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    *,
    split: str = "valid",
    negatives: int = 50,
    seed: int = 0,
) -> PurchaseCalibration:
    """Fit ``P(item in the user's held-out interactions | score)`` (see module doc).

    Args:
        user_emb: final user embeddings ``[num_users, d]``.
        item_emb: final item embeddings ``[num_items, d]``.
        data: the split the embeddings were trained on.
        split: ``"valid"`` (default; the test split stays for reporting) or ``"test"``.
        negatives: uniform item draws per user with held-out items.
        seed: seeds the draws.

    Raises:
        ValueError: on a bad ``split`` or ``negatives``, or a split without pairs.
    """
    if negatives < 1:
        raise ValueError(f"negatives must be >= 1, got {negatives}")
    pos_user, pos_item = _split_pairs(data, split)
    if pos_user.numel() == 0:
        raise ValueError(f"the {split} split has no interactions to calibrate on")
    users = torch.unique(pos_user)
    n_items = data.num_items
    generator = torch.Generator().manual_seed(seed)
    neg_user = users.repeat_interleave(negatives)
    neg_item = torch.randint(n_items, (neg_user.numel(),), generator=generator)
    known = torch.unique(
        torch.cat([data.train_user * n_items + data.train_item, pos_user * n_items + pos_item])
    )
    key = neg_user * n_items + neg_item
    at = torch.searchsorted(known, key).clamp_(max=known.numel() - 1)
    keep = known[at] != key
    neg_user, neg_item = neg_user[keep], neg_item[keep]

    per_user_known = torch.bincount(
        torch.cat([data.train_user, pos_user]), minlength=data.num_users
    ).double()
    kept = torch.bincount(neg_user, minlength=data.num_users).double()
    weight_of_user = (n_items - per_user_known) / kept.clamp(min=1.0)

    def score(u: Tensor, i: Tensor) -> Tensor:
        with torch.inference_mode():
            return (user_emb[u].float() * item_emb[i].float()).sum(dim=1).double()

    scores = torch.cat([score(pos_user, pos_item), score(neg_user, neg_item)]).numpy()
    labels = np.concatenate([np.ones(pos_user.numel()), np.zeros(neg_user.numel())])
    weights = np.concatenate([np.ones(pos_user.numel()), weight_of_user[neg_user].numpy()])
    order = np.argsort(scores, kind="stable")
    fitted = isotonic_regression(labels[order], weights=weights[order], increasing=True)
    x, y = scores[order], np.asarray(fitted.x, dtype=np.float64)
    starts = np.asarray(fitted.blocks[:-1], dtype=np.int64)
    ends = np.asarray(fitted.blocks[1:], dtype=np.int64) - 1
    knots = np.stack([x[starts], x[ends]], axis=1).ravel()
    probs = np.stack([y[starts], y[ends]], axis=1).ravel()
    knots, first = np.unique(knots, return_index=True)  # equal scores: keep one knot
    return PurchaseCalibration(
        knots=knots,
        probs=np.maximum.accumulate(probs[first]),
        split=split,
        positives=int(pos_user.numel()),
        negatives=int(neg_user.numel()),
        base_rate=float((labels * weights).sum() / weights.sum()),
    )
