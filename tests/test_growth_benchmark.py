"""The growth benchmark's pieces: exponent and memory fits, and its stages on tiny worlds.

The stages run in-process here (no Bolt server, no HTTP server); the benchmark itself runs each
in its own process.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.growth import (
    CHECKPOINT,
    DERIVED,
    RESULT_KEYS,
    SNAPSHOT,
    STAGE_NEEDS,
    STAGES,
    Params,
    SizeResult,
    StageRecord,
    fit_exponent,
    format_table,
    load_json,
    memory_per_million_edges,
    result_line,
    run_size,
    save_json,
    stage_needs,
    with_needs,
)
from graph.snapshot import read_snapshot

IN_PROCESS = ("generate", "load_sqlite", "export", "train", "eval", "reach", "plan")


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.3, 2.0])
def test_fit_exponent_recovers_a_power_law(exponent: float) -> None:
    edges = [1e4, 3e4, 1e5, 1e6]
    costs = [0.02 * e**exponent for e in edges]
    assert fit_exponent(edges, costs) == pytest.approx(exponent, abs=1e-9)


def test_fit_exponent_of_two_sizes_is_the_slope_between_them() -> None:
    assert fit_exponent([1e4, 1e5], [2.0, 30.0]) == pytest.approx(math.log10(15.0))


def test_fit_exponent_needs_two_sizes_and_positive_values() -> None:
    assert math.isnan(fit_exponent([1e4], [1.0]))
    assert math.isnan(fit_exponent([1e4, 1e4], [1.0, 2.0]))
    with pytest.raises(ValueError, match="must be > 0"):
        fit_exponent([1e4, 1e5], [1.0, 0.0])
    with pytest.raises(ValueError, match="equal lengths"):
        fit_exponent([1e4, 1e5], [1.0])


def test_memory_per_million_edges_is_the_slope_and_intercept() -> None:
    edges = [1e5, 1e6, 1e7]
    slope, fixed = memory_per_million_edges(edges, [300 + 40 * e / 1e6 for e in edges])
    assert slope == pytest.approx(40.0)
    assert fixed == pytest.approx(300.0)
    assert all(math.isnan(v) for v in memory_per_million_edges([1e5], [300.0]))


def _run_size(tmp_path: Path, users: int) -> SizeResult:
    params = Params(
        users=users,
        items=300,
        threads=1,
        train_batches=1,
        steps_per_epoch=1,
        capped_batches=1,
        simulations=20,
        reach_seeds=3,
        plan_k=3,
    )
    root = tmp_path / f"u{users}"
    root.mkdir()
    size = SizeResult(users)
    for stage in IN_PROCESS:
        out = STAGES[stage](root, params)
        size.stages[stage] = StageRecord(stage, "ok", float(out.pop("cost")), 100.0, detail=out)
    generated = size.stages["generate"].detail
    size.edges, size.counts = int(generated["edges"]), dict(generated["counts"])
    return size


def test_stages_on_tiny_worlds_give_the_table_and_result_line(tmp_path: Path) -> None:
    results = [_run_size(tmp_path, 300), _run_size(tmp_path, 800)]

    for size in results:
        assert size.edges == size.counts["interactions"] + size.counts["friendships"]
        assert all(r.cost is not None and r.cost > 0 for r in size.stages.values())
        assert (tmp_path / f"u{size.users}" / CHECKPOINT).is_file()
        train = size.stages["train"].detail
        assert train["projected"] == (train["batches_per_epoch"] > 1)
        if train["projected"]:  # negatives of the epoch + s/batch x batches per epoch
            expected = train["negatives_s"] + train["per_batch_s"] * train["batches_per_epoch"]
            assert size.stages["train"].cost == pytest.approx(expected)
        # One step of every pair (steps_per_epoch=1): the batch grows past 4,096 if need be.
        assert train["capped_steps"] == 1
        assert train["capped_batch_size"] == max(4096, train["train_pairs"])
        capped = train["negatives_s"] + train["capped_per_step_s"] * train["capped_steps"]
        assert train["capped_epoch_s"] == pytest.approx(capped)
    assert not results[0].stages["train"].detail["projected"]  # 300 users: one batch of 4096
    assert results[1].stages["train"].detail["projected"]  # 800 users: two

    line = result_line(results)
    values = dict(part.split("=") for part in line.removeprefix("RESULT ").split())
    assert line.startswith("RESULT ")
    loading = [f"load_{k}_{n}" for n in (300, 800) for k in ("rows_per_s", "peak_mb")]
    loading += ["load_rows_per_s", "load_baseline_rows_per_s", "export_s", "export_speedup"]
    assert list(values) == [*RESULT_KEYS.values(), *loading, "sizes", "edges_max"]
    assert values["sizes"] == "300,800"
    load = results[1].stages["load_sqlite"].detail
    assert float(values["load_rows_per_s"]) == pytest.approx(load["rows_per_s"], abs=0.5)
    assert float(values["load_peak_mb_800"]) == pytest.approx(load["load_peak_mb"], abs=0.5)
    assert math.isnan(float(values["load_baseline_rows_per_s"]))  # not asked for
    export = results[1].stages["export"].detail  # the old export, timed and fingerprinted
    assert export["baseline_s"] > 0
    assert float(values["export_speedup"]) == pytest.approx(export["speedup"], abs=0.005)
    assert int(values["edges_max"]) == results[1].edges
    for name, key in RESULT_KEYS.items():
        stage = DERIVED[name][0] if name in DERIVED else name
        assert re.fullmatch(r"-?\d+\.\d{3}|nan", values[key])
        assert math.isnan(float(values[key])) == (stage not in IN_PROCESS)

    save_json(results, tmp_path / "growth.json", {"threads": 1})
    loaded, meta = load_json(tmp_path / "growth.json")
    assert meta == {"threads": 1}
    assert result_line(loaded) == line and format_table(loaded) == format_table(results)

    table = format_table(results).splitlines()
    assert "300 users" in table[0] and "800 users" in table[0]
    rows = {line.split()[0]: line for line in table[2:]}
    assert list(rows) == ["edges", *STAGE_NEEDS, *DERIVED]
    assert rows["load_bolt"].split()[-4:] == ["-", "-", "nan", "nan"]
    assert rows["train"].count(" / 100 MB") == 2 and " proj " in rows["train"]


def test_selected_stages_bring_what_they_need() -> None:
    assert with_needs(["train"]) == {"generate", "load_sqlite", "export", "train"}
    assert with_needs(["load_bolt", "plan"]) == {
        "generate",
        "load_bolt",
        "load_sqlite",
        "export",
        "plan",
    }
    assert with_needs(STAGE_NEEDS) == set(STAGE_NEEDS)
    assert with_needs(["train"], stage_needs("world")) == {"generate", "export", "train"}


def test_the_snapshot_built_from_the_world_is_the_exported_one(tmp_path: Path) -> None:
    params = Params(users=300, items=300, threads=1)
    for stage in ("generate", "load_sqlite", "export"):
        STAGES[stage](tmp_path, params)
    direct = tmp_path / "direct"
    direct.mkdir()
    out = STAGES["export"](direct, replace(params, snapshot_from="world"))
    assert out["source"] == "world"
    ours, exported = read_snapshot(direct / SNAPSHOT), read_snapshot(tmp_path / SNAPSHOT)
    assert ours.user_ids == exported.user_ids and ours.item_ids == exported.item_ids
    for name in ("inter_user", "inter_item", "inter_kind", "inter_ts", "social_src", "social_dst"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(exported, name), err_msg=name)


def test_unselected_stages_are_recorded_as_skipped(tmp_path: Path) -> None:
    params = Params(users=300, items=300, threads=1)
    records = list(run_size(params, tmp_path / "u300", 0, 60.0, lambda: None, ["generate"]))
    assert [r.stage for r in records] == list(STAGE_NEEDS)
    assert records[0].status == "ok"
    assert all(r.status == "skipped" and "--stages" in r.note for r in records[1:])


def test_the_load_baseline_loads_the_same_rows_with_the_row_by_row_loader(tmp_path: Path) -> None:
    params = Params(users=300, items=100, threads=1, load_baseline=True)
    STAGES["generate"](tmp_path, params)
    out = STAGES["load_sqlite"](tmp_path, params)
    assert out["rows_per_s"] > 0 and out["baseline_rows_per_s"] > 0
    assert out["load_peak_mb"] > 0
    new = (tmp_path / "report_sqlite" / "rejects.csv").read_bytes()
    assert new == (tmp_path / "report_rowwise" / "rejects.csv").read_bytes()
    assert not (tmp_path / "rowwise.sqlite3").exists()
