"""An experiment's report from a real SQLite serve log and a served graph: counts, revenue
from catalogue prices, retention from the graph's interactions, segments from profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.schema import Interaction, Item, User
from graph.serve_log import Attribution, Serve
from graph.snapshot import build_snapshot
from graph.sqlite_store import SQLiteStore
from serving.experiment_report import build_report, read_log
from serving.experiments import Experiment, Variant
from serving.live import LiveGraph
from serving.profile import ProfileService

DAY = 86_400
T0 = 1_750_000_000


def test_report_from_the_sqlite_serve_log(tmp_path: Path) -> None:
    experiment = Experiment(
        "boost",
        (Variant("control", 0.5), Variant("treated", 0.5, social_boost=0.5)),
        created_ts=T0 - 10,
    )
    users = [User(f"u{i}") for i in range(4)]
    items = [Item("i1", "c", 10.0), Item("i2", "c", None), Item("i3", "c", 4.0)]
    history = [
        Interaction("u0", "i3", "view", ts=T0 - 40 * DAY),
        Interaction("u1", "i3", "view", ts=T0 + 5 * DAY),  # u1 comes back on day 5
    ]
    live = LiveGraph(build_snapshot(users, items, [], history, source="test"))
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        store.record_serves(
            [
                Serve("s0", "u0", T0, "rec", ("i1", "i2"), experiment="boost", variant="control"),
                Serve("s1", "u1", T0, "rec", ("i1", "i2"), experiment="boost", variant="treated"),
                Serve("s2", "u2", T0, "feed", ("i1",), experiment="boost", variant="treated"),
                Serve("s3", "u3", T0, "rec", ("i3",)),  # outside any experiment
                Serve("old", "u3", T0 - 100, "rec", ("i3",), experiment="boost", variant="x"),
            ]
        )
        store.record_attributions(
            [
                Attribution("u1", "i1", "click", T0 + 5, 1.0, "s1", 1, "explicit"),
                Attribution("u1", "i1", "purchase", T0 + 9, 1.0, "s1", 1, "last_touch"),
                Attribution("u1", "i2", "purchase", T0 + 9, 1.0, "s1", 2, "last_touch"),
                Attribution("u3", "i3", "purchase", T0 + 9, 1.0, "s3", 1, "explicit"),
            ]
        )
        log = read_log(store, experiment)
    finally:
        store.close()
    assert sorted(s.serve_id for s in log.serves) == ["s0", "s1", "s2"]  # "old" predates it
    report = build_report(experiment, log, ProfileService(live), now=T0 + 40 * DAY, resamples=50)
    rows = {(m.variant, m.segment): m for m in report.metrics}
    control, treated = rows[("control", "all")], rows[("treated", "all")]
    assert (control.users, control.impressions, control.clicks, control.purchases) == (1, 2, 0, 0)
    assert (treated.users, treated.impressions, treated.clicks, treated.purchases) == (2, 3, 1, 2)
    assert treated.revenue == pytest.approx(10.0)  # i2 has no price
    assert treated.retention["7d"].value == pytest.approx(0.5)  # u1 back on day 5, u2 never
    assert control.retention["30d"].value == 0.0
    segments = {m.segment for m in report.metrics}
    assert any(s.startswith("activity=") for s in segments)
    assert any(s.startswith("value_tier=") for s in segments)
    assert {c.metric for c in report.comparisons} >= {"ctr", "conversion_per_user"}
