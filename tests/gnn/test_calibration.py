"""Purchase-probability calibration: fitted on validation, checked on the untouched test split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.calibration import fit_purchase_calibration
from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.train import train
from graph.synthetic import WorldConfig, generate_world


@pytest.fixture(scope="module")
def trained() -> tuple[torch.Tensor, torch.Tensor, TrainData]:
    snapshot = generate_world(WorldConfig(num_users=400, num_items=150, seed=5)).to_snapshot()
    config = TrainConfig(
        embedding_dim=16, num_layers=2, lr=0.02, epochs=30, patience=30, seed=0, num_threads=1
    )
    result = train(snapshot, config)
    return result.user_embeddings, result.item_embeddings, result.data


def _candidate_probabilities(
    user_emb: torch.Tensor, item_emb: torch.Tensor, data: TrainData, probability: object
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted probability and test label of every (test user, item) pair that is neither a
    training nor a validation pair."""
    scores = (user_emb @ item_emb.T).numpy()
    label = np.zeros_like(scores, dtype=bool)
    label[data.test_user.numpy(), data.test_item.numpy()] = True
    seen = np.zeros_like(label)
    seen[data.train_user.numpy(), data.train_item.numpy()] = True
    seen[data.valid_user.numpy(), data.valid_item.numpy()] = True
    users = np.unique(data.test_user.numpy())
    mask = ~seen[users]
    prob = probability(scores[users])  # type: ignore[operator]
    return prob[mask], label[users][mask]


def test_probabilities_are_calibrated_on_the_test_split(trained) -> None:
    user_emb, item_emb, data = trained
    cal = fit_purchase_calibration(user_emb, item_emb, data, split="valid", seed=1)
    assert np.all(np.diff(cal.knots) > 0) and np.all(np.diff(cal.probs) >= 0)
    prob, label = _candidate_probabilities(user_emb, item_emb, data, cal.probability)
    # The expected number of test interactions matches the observed one (same split share).
    assert prob.sum() == pytest.approx(label.sum(), rel=0.25)
    # Reliability: the top fifth by probability has a far higher hit rate than the bottom fifth,
    # and each fifth's mean prediction is close to its hit rate.
    order = np.argsort(prob)
    fifths = np.array_split(order, 5)
    rates = [label[f].mean() for f in fifths]
    assert rates[-1] > 5 * max(rates[0], 1e-4)
    for part, rate in zip(fifths, rates, strict=True):
        assert prob[part].mean() == pytest.approx(rate, abs=max(0.5 * rate, 0.01))


def test_random_embeddings_give_a_flat_probability(trained) -> None:
    _, _, data = trained
    gen = torch.Generator().manual_seed(0)
    user_emb = torch.randn(data.num_users, 16, generator=gen)
    item_emb = torch.randn(data.num_items, 16, generator=gen)
    cal = fit_purchase_calibration(user_emb, item_emb, data, seed=1)
    prob, label = _candidate_probabilities(user_emb, item_emb, data, cal.probability)
    order = np.argsort(prob)
    top, bottom = order[-len(order) // 5 :], order[: len(order) // 5]
    assert label[top].mean() < 3 * label[bottom].mean() + 0.01


def test_bad_arguments_are_rejected(trained) -> None:
    user_emb, item_emb, data = trained
    with pytest.raises(ValueError, match="split"):
        fit_purchase_calibration(user_emb, item_emb, data, split="train")
    with pytest.raises(ValueError, match="negatives"):
        fit_purchase_calibration(user_emb, item_emb, data, negatives=0)
