"""The contrastive views' noise: the fused CPU kernel against the same noise as tensor
operations (the path other devices take), and a child forked after the kernel ran."""

from __future__ import annotations

import os

import pytest
import torch

from gnn.models.noise import _add_view_noise_with_tensors, add_view_noise, hashed_bytes


def _inputs(rows: int, views: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    output = torch.randn(rows, views, dim, generator=gen)
    live = torch.rand(rows + 7, generator=gen) > 0.2
    return output, live


@pytest.mark.parametrize(
    ("views", "dim", "base"), [(1, 64, 0), (2, 64, 4096), (2, 5, 3), (1, 13, 77)]
)
@pytest.mark.parametrize("pick", [False, True])
def test_fused_kernel_equals_the_tensor_operations(
    views: int, dim: int, base: int, pick: bool
) -> None:
    output, live = _inputs(30, views, dim)
    nodes = torch.tensor([0, 36, 5, 5, 12] * 6) if pick else None
    live = live if pick else live[:30]  # every node, one row each
    fused = add_view_noise(torch.empty(30, 2, dim), output, nodes, 991, base, live, 0.3)
    reference = _add_view_noise_with_tensors(
        torch.empty(30, 2, dim), output, nodes, 991, base, live, 0.3
    )
    torch.testing.assert_close(fused, reference, rtol=1e-6, atol=1e-7)


def test_noise_follows_the_stream_has_norm_eps_and_the_output_sign() -> None:
    output, live = _inputs(12, 2, 16)
    out = add_view_noise(output.clone(), output, None, 5, 40, live, 0.25)  # in place is allowed
    noise = out - output
    nodes = live[:12]
    torch.testing.assert_close(noise[nodes].norm(dim=2), torch.full((int(nodes.sum()), 2), 0.25))
    assert bool((noise[nodes].sign() == output[nodes].sign()).all())
    assert not bool(noise[~nodes].any())
    raw = hashed_bytes(5, 12 * 2 * 16, start=40).view(12, 2, 16).float() + 0.5
    direction = raw / raw.norm(dim=2, keepdim=True)
    torch.testing.assert_close(noise[nodes].abs(), 0.25 * direction[nodes])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_after_the_kernel_ran_can_run_it() -> None:
    # numba's OpenMP layer aborts such a child; the kernel runs on the work-queue layer.
    output, live = _inputs(4000, 2, 64)
    add_view_noise(torch.empty(4000, 2, 64), output, None, 1, 0, live[:4000], 0.1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            add_view_noise(torch.empty(4000, 2, 64), output, None, 2, 0, live[:4000], 0.1)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
