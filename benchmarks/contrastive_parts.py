"""The social model's two hand-written contrastive parts against the stock tensor code they
replace, timed side by side in one process:

- one noisy layer of both views (:func:`gnn.models.noise.add_view_noise`, a fused numba pass on
  the CPU) against the same noise as tensor operations (the path other devices take), on
  tables the size of LastFM's and flickr's nodes;
- InfoNCE's forward and backward (:func:`gnn.losses.info_nce`, the normalisation inside its
  hand-written gradient) against autograd over ``F.normalize`` and ``F.cross_entropy``, on a
  contrast set the size of LastFM's (~800 nodes per side at ``ssl_rows=1024``).

Usage: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/contrastive_parts.py [--repeats 30]``.
Prints medians in ms and ``RESULT`` with the speed-ups last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # before torch is imported (see gnn.threads)
    from gnn.threads import passive_openmp

    passive_openmp()

import torch
import torch.nn.functional as F

from gnn.allocator import keep_freed_memory
from gnn.losses import info_nce
from gnn.models.noise import _add_view_noise_with_tensors, add_view_noise

#: Nodes of the tables timed: LastFM (1,892 users + 17,632 items) and flickr.
TABLES = {"lastfm": 19_524, "flickr": 90_372}
#: Rows per side of the contrast set timed (LastFM, ``ssl_rows=1024``).
CONTRAST_ROWS = 800


def median_ms(run: Callable[[], object], repeats: int) -> float:
    """Median wall-clock milliseconds of ``run`` after three warm-up calls."""
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def noise_timings(nodes: int, repeats: int) -> tuple[float, float]:
    """``(fused, tensors)`` ms for one full-size noisy layer of two 64-wide views."""
    gen = torch.Generator().manual_seed(0)
    output = torch.randn(nodes, 2, 64, generator=gen)
    live = torch.ones(nodes, dtype=torch.bool)
    out = torch.empty(nodes, 2, 64)
    fused = median_ms(lambda: add_view_noise(out, output, None, 7, 0, live, 0.1), repeats)
    tensors = median_ms(
        lambda: _add_view_noise_with_tensors(out, output, None, 7, 0, live, 0.1), repeats
    )
    return fused, tensors


def info_nce_timings(rows: int, repeats: int) -> tuple[float, float]:
    """``(hand-written, autograd)`` ms of InfoNCE's forward and backward."""
    gen = torch.Generator().manual_seed(1)
    view1 = torch.randn(rows, 64, generator=gen, requires_grad=True)
    view2 = torch.randn(rows, 64, generator=gen, requires_grad=True)
    target = torch.arange(rows)

    def ours() -> None:
        info_nce(view1, view2, 0.2).backward()

    def stock() -> None:
        logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).T / 0.2
        F.cross_entropy(logits, target).backward()

    return median_ms(ours, repeats), median_ms(stock, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per figure")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as training does: the tensor path's temporaries are not page-faulted
    print(f"torch threads: {torch.get_num_threads()}")
    result: dict[str, float] = {}
    for name, nodes in TABLES.items():
        fused, tensors = noise_timings(nodes, args.repeats)
        print(
            f"noisy layer, {name} ({nodes} nodes): fused {fused:.2f} ms, tensors {tensors:.2f} ms"
        )
        result[f"{name}_noise_fused_ms"] = fused
        result[f"{name}_noise_tensors_ms"] = tensors
        result[f"{name}_noise_speedup"] = tensors / fused
    ours, stock = info_nce_timings(CONTRAST_ROWS, args.repeats)
    print(
        f"InfoNCE forward+backward, {CONTRAST_ROWS} rows: ours {ours:.2f} ms, autograd {stock:.2f}"
    )
    result.update(info_nce_ms=ours, info_nce_autograd_ms=stock, info_nce_speedup=stock / ours)
    print("RESULT " + " ".join(f"{key}={value:.3f}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
