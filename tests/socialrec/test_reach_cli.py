"""``socialrec reach`` and ``socialrec plan`` on the tiny world of tests/reach_world.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gnn.checkpoint import save_checkpoint
from graph.export import export_snapshot
from graph.reach.calibrate import CalibratedReach
from graph.snapshot import write_snapshot
from graph.sqlite_store import SQLiteStore
from socialrec.cli import app
from socialrec.commands.reach import read_costs
from tests.graph.reach.worlds import ic_rows
from tests.reach_world import checkpoint, world

runner = CliRunner()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    snapshot = world()
    snapshot_dir = write_snapshot(snapshot, tmp_path / "snapshot")
    ckpt = save_checkpoint(checkpoint(snapshot), tmp_path / "model.pt")
    monkeypatch.setenv("SOCIALREC_WORK_DIR", str(tmp_path / "unused"))
    return ["--snapshot", str(snapshot_dir), "--checkpoint", str(ckpt), "--jobs", "1"]


def test_reach_prints_tables(paths: list[str]) -> None:
    args = ["reach", "--seeds", "k1,k2", "--probability", "uniform", "--p", "1", "--seed", "3"]
    result = runner.invoke(app, [*args, "--simulations", "20", "--item", "i1", *paths])
    assert result.exit_code == 0, result.output
    out = result.output
    # p = 1: k1 and k2 reach every user but f6 (7 users), deterministically.
    assert "reach (seeds included)" in out and "7.00" in out
    assert "qualified reach (i1)" in out
    assert "By hop" in out and "Per seed" in out and "Overlap" in out
    assert "seed 3" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reach", "--seeds", "k1,ghost"], "unknown user: 'ghost'"),
        (["reach", "--seeds", "k1", "--item", "nope"], "unknown item: 'nope'"),
        (["reach", "--seeds", ","], "--seeds is empty"),
        (["reach", "--seeds", "k1", "--model", "sir"], "--model must be ic or lt"),
        (["reach", "--seeds", "k1", "--probability", "x"], "--probability must be one of"),
        (["reach"], "give --seeds a,b,c (or run `socialrec reach backtest`)"),
        (["plan"], "give exactly one of --k or --budget"),
        (["plan", "--budget", "3"], "--budget needs --costs"),
        (["plan", "--k", "9"], "k must be an int in [1, 8]"),
    ],
)
def test_errors_exit_1(paths: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, *paths])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())


def test_plan_budget_and_plot(paths: list[str], tmp_path: Path) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text("user_id,cost\nk1,2\nk2,2\nf6,1\n")
    png = tmp_path / "out" / "reach.png"
    args = [
        "plan",
        "--budget",
        "4",
        "--costs",
        str(costs),
        "--probability",
        "uniform",
        "--p",
        "0.5",
    ]
    result = runner.invoke(app, [*args, "--simulations", "50", "--plot", str(png), *paths])
    assert result.exit_code == 0, result.output
    assert "Chosen influencers" in result.output and "baseline" in result.output
    assert "total cost 4.00" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_k(paths: list[str]) -> None:
    args = ["plan", "--k", "2", "--probability", "uniform", "--p", "0.5", "--simulations", "50"]
    result = runner.invoke(app, [*args, "--seed", "1", *paths])
    assert result.exit_code == 0, result.output
    assert "imm" in result.output and "baseline: k1, k2" in result.output


def test_read_costs_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("user,cost\na,1\n")
    with pytest.raises(ValueError, match="needs a header with user_id and cost"):
        read_costs(path)
    path.write_text("user_id,cost\na,1\na,2\n")
    with pytest.raises(ValueError, match=r"c.csv:3: user_id 'a' appears twice"):
        read_costs(path)
    path.write_text("user_id,cost\na,-1\n")
    with pytest.raises(ValueError, match="must be > 0"):
        read_costs(path)
    path.write_text("user_id,cost\na,1.5\nb,2\n")
    assert read_costs(path) == {"a": 1.5, "b": 2.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "no usable adoption log: only 4 timed purchase adoptions (need >= 100); reach "
            "falls back to weighted cascade (calibrated: false)",
        ),
        (["--kinds", "like"], "kinds must be a non-empty subset"),
    ],
)
def test_reach_backtest_errors_exit_1(paths: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, ["reach", "backtest", *args, *paths[:2]])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())


def test_reach_backtest_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small IC world loaded into the SQLite store and exported, as a user would; the default
    output directory is <work_dir>/reach."""
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    users, items, friendships, interactions = ic_rows(num_users=150, num_items=1200)
    store.upsert_users(users)
    store.upsert_items(items)
    store.upsert_friendships(friendships)
    store.upsert_interactions(interactions)
    export_snapshot(store, tmp_path / "snapshot")
    store.close()
    monkeypatch.setenv("SOCIALREC_WORK_DIR", str(tmp_path))
    args = ["reach", "backtest", "--horizon", "30", "--simulations", "20", "--jobs", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for model in ("calibrated", "weighted_cascade", "credit_distribution", "constant_median"):
        assert model in out
    assert "backtest: inner split" in out  # plain progress lines when not on a terminal
    reach_dir = tmp_path / "reach"
    assert (reach_dir / "reach_backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((reach_dir / "reach_backtest.json").read_text())
    assert report["options"]["horizon_s"] == 30 * 86_400 and report["counts"]["held_out"] > 20
    model = CalibratedReach.load(reach_dir / "reach_model.json")
    assert model.backtest is not None and model.backtest["horizon_s"] == 30 * 86_400
    # After the backtest, `reach` and `plan` default to the calibrated model and say so.
    seed = users[0].user_id
    reach = runner.invoke(app, ["reach", "--seeds", seed, "--simulations", "50", "--jobs", "1"])
    assert reach.exit_code == 0, reach.output
    text = " ".join(reach.output.split())
    assert "reach model: calibrated on" in text and "(IC, calibrated)" in text
    assert "calibrated adopters (90% interval)" in text
    wc = runner.invoke(app, ["reach", "--seeds", seed, "--probability", "wc", "--jobs", "1"])
    assert "reach model: weighted_cascade (calibrated: false" in " ".join(wc.output.split())


def test_reach_without_a_backtest_says_why_not_calibrated(paths: list[str]) -> None:
    result = runner.invoke(app, ["reach", "--seeds", "k1", "--simulations", "20", *paths])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "reach model: weighted_cascade (calibrated: false: no calibrated model at" in out
    asked = runner.invoke(app, ["reach", "--seeds", "k1", "--probability", "calibrated", *paths])
    assert asked.exit_code == 1 and "run `socialrec reach backtest` first" in asked.output
