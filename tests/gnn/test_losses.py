"""Training losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gnn.losses import bpr_loss, info_nce


def test_info_nce_matches_hand_computation() -> None:
    view1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    view2 = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    tau = 0.5
    # Cosines: row 0 vs (1, 1/sqrt2); row 1 vs (0, 1/sqrt2).
    c = 1 / math.sqrt(2)
    row0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(c / tau)))
    row1 = -math.log(math.exp(c / tau) / (math.exp(0.0) + math.exp(c / tau)))
    got = info_nce(view1, view2, tau)
    assert float(got) == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_info_nce_is_scale_free_and_lowest_for_aligned_views() -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(16, 8, generator=gen)
    aligned = info_nce(z, 3 * z, 0.2)
    torch.testing.assert_close(aligned, info_nce(z, z, 0.2))
    shuffled = info_nce(z, z[torch.randperm(16, generator=gen)], 0.2)
    assert float(aligned) < float(shuffled)


def test_info_nce_gradients_reach_both_views() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(5, 4, generator=gen, requires_grad=True)
    b = torch.randn(5, 4, generator=gen, requires_grad=True)
    info_nce(a, b, 0.2).backward()
    assert a.grad is not None and b.grad is not None
    assert bool(a.grad.abs().sum(1).gt(0).all()) and bool(b.grad.abs().sum(1).gt(0).all())


@pytest.mark.parametrize("tau", [0.2, 0.01])  # 0.01: past the constant shift, row maxima
def test_info_nce_value_and_gradients_equal_autograd_over_normalize(tau: float) -> None:
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(9, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(9, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    # A row under F.normalize's floor (1e-12) is divided by the floor: no projection.
    tiny = (1e-13 * torch.randn(1, 6, generator=gen, dtype=torch.float64)).requires_grad_()
    view1, view2 = torch.cat([a, tiny]), torch.cat([b, tiny + 1])
    got = info_nce(view1, view2, tau)
    got.backward()
    grads = [t.grad.clone() for t in (a, b, tiny)]  # type: ignore[union-attr]
    for t in (a, b, tiny):
        t.grad = None
    logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).T / tau
    expected = F.cross_entropy(logits, torch.arange(10))
    expected.backward()
    torch.testing.assert_close(got, expected)
    for grad, t in zip(grads, (a, b, tiny), strict=True):
        torch.testing.assert_close(grad, t.grad)


@pytest.mark.parametrize(
    ("view1", "view2", "tau", "match"),
    [
        (torch.ones(3, 2), torch.ones(2, 2), 0.2, "equal shape"),
        (torch.ones(3), torch.ones(3), 0.2, "2-D"),
        (torch.ones(3, 2), torch.ones(3, 2), 0.0, "temperature"),
    ],
)
def test_info_nce_rejects_bad_input(
    view1: torch.Tensor, view2: torch.Tensor, tau: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        info_nce(view1, view2, tau)


def test_bpr_loss_value() -> None:
    got = bpr_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 2
    assert float(got) == pytest.approx(expected)
