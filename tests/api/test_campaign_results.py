"""Campaign results on the scripted social graph (tests/api/social_graph.py): adopters observed
since launch, credited to the nearest KOL, against the prediction stored at launch; and the
endpoints through a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.schema import Interaction, InteractionKind
from graph.snapshot import Snapshot
from graph.sqlite_store import SQLiteStore
from serving.campaigns import (
    Campaign,
    Interval,
    KolPrediction,
    campaign_report,
    nearest_kols,
    observed_adopters,
)
from serving.live import LiveGraph
from tests.api.servers import serve_social_graph
from tests.api.social_graph import API_KEY, DAY, T0, build_store, export, make_settings
from tests.server_process import REPO_ROOT

START = T0 + 400 * DAY  # after every scripted interaction
KEY = {"X-API-Key": API_KEY}


@pytest.fixture
def live(tmp_path: Path) -> LiveGraph:
    build_store(tmp_path / "graph.sqlite3")
    snapshot: Snapshot = export(tmp_path / "graph.sqlite3", tmp_path / "snapshot")
    return LiveGraph(snapshot)


def campaign(horizon_s: int | None = 30 * DAY, low50: float | None = 2.0) -> Campaign:
    return Campaign(
        campaign_id="c1",
        item_id="p3",
        kols=("b", "d"),
        start_ts=START,
        created_ts=START,
        probability="calibrated",
        kinds=("purchase",),
        horizon_s=horizon_s,
        reach=Interval(3.0, 1.0, 5.0),
        adopters=Interval(2.5, 1.0, 4.0, low50, None if low50 is None else 3.0),
        adopters_calibrated=low50 is not None,
        per_kol=(KolPrediction("b", 2.0, 1.5), KolPrediction("d", 1.0, 0.5)),
    )


def buy(user: str, day: float, item: str = "p3", kind: InteractionKind = "purchase") -> Interaction:
    return Interaction(user, item, kind, 1.0, START + int(day * DAY))


def test_the_nearest_kol_gets_each_adopter_ties_to_the_first_listed(live: LiveGraph) -> None:
    # sees-edges: a, f see b (friends); a sees d (follows); b, c see a; so from b: a, f at 1
    # hop and c at 2; from d: a at 1 hop (a tie with b: b is listed first).
    found = nearest_kols(live, ["b", "d"], {"a", "f", "c", "e", "d"})
    assert found == {"a": ("b", 1), "f": ("b", 1), "c": ("b", 2), "d": ("d", 0)}
    assert nearest_kols(live, ["d", "b"], {"a"}) == {"a": ("d", 1)}
    assert nearest_kols(live, ["b"], {"c"}, max_hops=1) == {}


def test_adopters_are_counted_from_the_launch_within_the_horizon(live: LiveGraph) -> None:
    live.add_interactions(
        [
            buy("a", -1),  # before the launch
            buy("a", 2),
            buy("a", 3),  # again: counted once, at its first time
            buy("f", 1, kind="view"),  # not an adoption kind
            buy("c", 40),  # after the 30-day horizon
            buy("e", 5, item="p6"),  # another item
        ]
    )
    assert observed_adopters(live, "p3", ("purchase",), START, START + 30 * DAY) == {
        "a": START + 2 * DAY
    }
    # the snapshot's own log counts too: b bought p2 at T0 + 100 days
    assert observed_adopters(live, "p2", ("purchase",), T0, START) == {"b": T0 + 100 * DAY}


def test_the_report_compares_the_prediction_with_the_observed_audience(
    live: LiveGraph,
) -> None:
    live.add_interactions(
        [buy("a", 1), buy("f", 2), buy("c", 3), buy("e", 4), buy("b", 1), buy("g", 45)]
    )
    report = campaign_report(campaign(), live, now=START + 60 * DAY)
    assert (report.since_ts, report.until_ts, report.complete) == (START, START + 30 * DAY, True)
    assert report.observed_adopters == 4  # a, f, c, e; the KOL b is left out, g is too late
    assert report.unreached == 1  # e: a stranger
    assert (report.within_90, report.within_50) == (True, False)  # 4 in [1, 4], not [2, 3]
    b, d = report.per_kol
    assert (b.user_id, b.adopters, b.by_hop, b.adopted_themselves) == ("b", 3, {1: 2, 2: 1}, True)
    assert (d.user_id, d.adopters, d.by_hop, d.adopted_themselves) == ("d", 0, {}, False)
    assert (b.predicted_alone, d.predicted_marginal) == (2.0, 0.5)


def test_an_open_campaign_reports_so_far_and_uncalibrated_has_no_50_band(
    live: LiveGraph,
) -> None:
    live.add_interactions([buy("a", 1)])
    report = campaign_report(campaign(None, None), live, now=START + 2 * DAY)
    assert (report.until_ts, report.complete) == (START + 2 * DAY, False)
    assert (report.observed_adopters, report.within_90, report.within_50) == (1, True, None)


def test_a_campaign_record_round_trips_as_json() -> None:
    record = campaign()
    assert Campaign.from_json(record.to_json()) == record


@pytest.mark.parametrize("kind", ["sqlite", "neo4j"])
def test_a_launched_campaign_is_reported_through_the_server(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    launch: dict[str, Any] = {"kols": ["b", "d"], "item_id": "p3", "name": "spring",
                              "simulations": 200, "seed": 7}  # fmt: skip
    launch["start"] = int(time.time()) - 10
    with serve_social_graph(kind, tmp_path, request) as server:
        url = f"{server.base}/api/v1/campaigns"
        assert httpx.post(url, json=launch, timeout=60).status_code == 401
        unknown = httpx.post(url, json=launch | {"kols": ["b", "zz"]}, headers=KEY, timeout=60)
        assert unknown.status_code == 404, unknown.text
        created = httpx.post(url, json=launch, headers=KEY, timeout=60)
        assert created.status_code == 200, created.text
        record = created.json()
        assert (record["kols"], record["item_id"], record["name"]) == (["b", "d"], "p3", "spring")
        assert record["adopters_calibrated"] is False  # no reach backtest in this work dir
        assert record["adopters"]["low90"] <= record["adopters"]["expected"]
        assert [k["user_id"] for k in record["per_kol"]] == ["b", "d"]
        events = [{"user_id": u, "item_id": "p3", "kind": "purchase"} for u in "afceb"]
        posted = httpx.post(
            f"{server.base}/api/v1/events", json={"events": events}, headers=KEY, timeout=60
        )
        assert posted.json()["accepted_interactions"] == 5, posted.text
        report = httpx.get(f"{url}/{record['campaign_id']}/report", timeout=60)
        assert report.status_code == 200, report.text
        got = report.json()
        assert got["campaign"] == record and got["complete"] is False
        assert (got["observed_adopters"], got["unreached"]) == (4, 1)  # a, f, c; e: stranger
        b, d = got["per_kol"]
        assert (b["adopters"], b["by_hop"], b["adopted_themselves"]) == (3, {"1": 2, "2": 1}, True)
        assert (d["adopters"], d["adopted_themselves"]) == (0, False)
        assert httpx.get(f"{url}/nope/report", timeout=60).status_code == 404


def test_the_cli_reports_from_the_store_and_its_change_log(tmp_path: Path) -> None:
    make_settings(tmp_path)  # SQLite store and its snapshot under tmp_path
    store = SQLiteStore(tmp_path / "graph.sqlite3")
    try:
        store.record_campaign("c1", START, ["b", "d"], campaign(None, None).to_json())
        complete = replace(campaign(), campaign_id="c2")  # 30 days from START: long past
        store.record_campaign("c2", START + 1, ["b", "d"], complete.to_json())
        # after the export: only the change log holds these
        store.write_events([], [buy("a", 1), buy("f", 2), buy("e", 3)])
        store.delete_user("f")
    finally:
        store.close()
    env = dict(os.environ, SOCIALREC_WORK_DIR=str(tmp_path), COLUMNS="200")

    def socialrec(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "socialrec.cli", "campaign", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0 or args[-1] == "nope", done.stdout + done.stderr
        return " ".join(done.stdout.split())

    listed = socialrec("list")
    assert "c1" in listed and "c2" in listed
    # c2 observed a and e (f deleted): 2, inside both [1, 4] and [2, 3]
    assert "1/1 complete campaigns inside their 90% interval, 1/1 inside the 50%" in listed
    shown = socialrec("report", "c1")
    assert "observed adopters (KOLs left out) │ 2" in shown  # a and e; f was deleted
    assert "adopters no KOL reaches │ 1" in shown
    assert "unknown campaign 'nope'" in socialrec("report", "nope")
