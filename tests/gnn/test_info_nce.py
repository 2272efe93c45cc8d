"""InfoNCE's fused loss and gradient (:class:`gnn.losses._UnitInfoNCE`) against the
textbook form: cosine logits and ``F.cross_entropy`` with autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gnn.losses import info_nce


def _reference(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(view1.shape[0]))


@pytest.mark.parametrize("temperature", [0.2, 1.0, 0.01])  # 0.01: the row-maximum shift
def test_loss_and_gradients_equal_cross_entropy(temperature: float) -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(70, 16, generator=gen)
    inputs = [base + 0.3 * torch.randn(70, 16, generator=gen), base.clone()]
    for tensor in inputs:
        tensor.requires_grad_(True)
    twins = [t.detach().clone().requires_grad_(True) for t in inputs]
    got = info_nce(inputs[0], inputs[1], temperature)
    expected = _reference(twins[0], twins[1], temperature)
    torch.testing.assert_close(got, expected)
    (3.0 * got).backward()
    (3.0 * expected).backward()
    for mine, theirs in zip(inputs, twins, strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad)


def test_gradcheck_in_double_precision() -> None:
    gen = torch.Generator().manual_seed(1)
    view1 = torch.randn(9, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    view2 = torch.randn(9, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, 0.3), (view1, view2))


def test_identical_far_apart_views_give_a_loss_near_zero() -> None:
    views = torch.eye(6) * 5  # orthogonal rows: positives at cos 1, negatives at cos 0
    assert float(info_nce(views, views, 0.05)) < 1e-6
