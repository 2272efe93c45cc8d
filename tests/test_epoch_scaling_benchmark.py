"""The epoch-scaling benchmark's pieces: the curve arithmetic and a tiny world end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.epoch_scaling import Run, main


def test_best_within_and_first_reaching_read_the_curve() -> None:
    run = Run("auto", curve=[(10.0, 0.1), (20.0, 0.3), (30.0, 0.2), (40.0, 0.5)])
    assert run.best_within(25.0) == 0.3
    assert run.best_within(35.0) == 0.3
    assert run.best_within(40.0) == 0.5
    assert math.isnan(run.best_within(5.0))
    assert run.first_reaching(0.25) == 20.0
    assert math.isnan(run.first_reaching(0.6))


def test_a_tiny_world_keeps_the_protocols_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--users", "400", "--threads", "1", "--lastfm", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    figures = dict(item.split("=") for item in last.split()[1:])
    assert figures["users"] == "400"
    pairs = int(figures["train_pairs"])
    assert figures["every_steps"] == figures["auto_steps"] == str(-(-pairs // 4096))
    assert figures["auto_batch"] == "4096" and float(figures["auto_lr"]) == 0.005
    assert figures["every_epochs"] == "1"
    assert 0 < float(figures["every_valid_ndcg10"]) <= 1
    assert figures["lastfm_identical"] == "nan"  # no Last.fm files in tmp_path
