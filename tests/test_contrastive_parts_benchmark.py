"""The contrastive-parts benchmark runs end to end and prints its figures last."""

from __future__ import annotations

import pytest

from benchmarks.contrastive_parts import main


def test_it_prints_both_comparisons_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repeats", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    figures = {key: float(value) for key, value in (f.split("=") for f in last.split()[1:])}
    for part in ("lastfm_noise", "flickr_noise"):
        assert figures[f"{part}_fused_ms"] > 0 and figures[f"{part}_tensors_ms"] > 0
        assert figures[f"{part}_speedup"] == pytest.approx(
            figures[f"{part}_tensors_ms"] / figures[f"{part}_fused_ms"], rel=1e-2
        )
    assert figures["info_nce_ms"] > 0 and figures["info_nce_autograd_ms"] > 0
