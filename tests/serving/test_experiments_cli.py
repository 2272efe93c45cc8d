"""``socialrec experiment report`` and ``simulate`` as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from graph.serve_log import Attribution, Serve
from graph.sqlite_store import SQLiteStore
from serving.experiments import EXPERIMENTS_FILE, Experiment, ExperimentRegistry, Variant
from tests.api.social_graph import T0, make_settings
from tests.server_process import REPO_ROOT


def socialrec(*args: str, work: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALREC_")}
    env |= {"SOCIALREC_WORK_DIR": str(work), "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "socialrec.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
        check=False,
    )


def test_report_prints_tables_and_writes_json_and_png(tmp_path: Path) -> None:
    make_settings(tmp_path)
    ExperimentRegistry(tmp_path / EXPERIMENTS_FILE).create(
        Experiment("ab", (Variant("a", 0.5), Variant("b", 0.5, social_boost=1.0)), created_ts=T0)
    )
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        store.record_serves(
            [
                Serve("s1", "a", T0 + 1, "rec", ("p2", "p3"), experiment="ab", variant="a"),
                Serve("s2", "b", T0 + 1, "rec", ("p1", "p3"), experiment="ab", variant="b"),
            ]
        )
        store.record_attributions(
            [Attribution("b", "p1", "purchase", T0 + 9, 1.0, "s2", 1, "explicit")]
        )
    finally:
        store.close()
    done = socialrec("experiment", "report", "ab", work=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Experiment ab: metrics" in done.stdout and "Fixed-horizon" in done.stdout
    saved = json.loads((tmp_path / "experiments" / "ab.json").read_text())
    b = next(m for m in saved["metrics"] if m["variant"] == "b" and m["segment"] == "all")
    assert (b["users"], b["impressions"], b["purchases"], b["revenue"]) == (1, 2, 1, 50.0)
    assert (tmp_path / "experiments" / "ab.png").read_bytes()[:4] == b"\x89PNG"
    missing = socialrec("experiment", "report", "nope", work=tmp_path)
    assert missing.returncode == 1 and "no experiment named 'nope'" in missing.stdout


def test_simulate_reports_the_aa_rate_and_the_detection(tmp_path: Path) -> None:
    done = socialrec(
        *("experiment", "simulate", "--a", "popular", "--b", "random"),
        *("--users", "600", "--items", "120", "--replays", "20"),
        work=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "A/A false positives (20 replays, alpha 0.05)" in done.stdout
    assert re.search(r"A/B found with the true sign \(20\)\s*│\s*1\.000", done.stdout)
