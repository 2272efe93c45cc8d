"""The reach backtest, the calibrated model and credit distribution on worlds with known answers
(``ic_world``: :mod:`tests.graph.reach.worlds`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph.export import export_snapshot
from graph.reach.adoptions import AdoptionLog, split_by_time
from graph.reach.backtest import Predictions, run_backtest, score_predictions
from graph.reach.calibrate import CalibratedReach, fit_calibrated, load_for_serving
from graph.reach.credit import credit_spread, set_spread
from graph.reach.influence_graph import InfluenceGraph
from graph.reach.learned import learned_from_log
from graph.reach.log_check import UnusableLogError, check_log, choose_horizon
from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot
from graph.store import GraphStore
from tests.graph.reach.worlds import DAY, HORIZON, P_HIGH, P_LOW, ic_world


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return ic_world()


def test_adoption_log_keeps_first_timed_adoption_and_counts_untimed() -> None:
    snap = build_snapshot(
        [User("a"), User("b")],
        [Item("x"), Item("y")],
        [],
        [
            Interaction("a", "x", "purchase", ts=50),
            Interaction("a", "x", "purchase", ts=10),
            Interaction("a", "x", "purchase"),  # untimed, but the pair has timed events
            Interaction("b", "x", "purchase"),  # only untimed: cannot be placed in time
            Interaction("b", "y", "view", ts=5),  # another kind
        ],
        source="t",
    )
    log = AdoptionLog.from_snapshot(snap)
    assert (log.user.tolist(), log.item.tolist(), log.ts.tolist()) == ([0], [0], [10])
    assert log.untimed == 1
    with pytest.raises(ValueError, match="kinds must be a non-empty subset"):
        AdoptionLog.from_snapshot(snap, ["like"])


def test_time_split_never_leaks(world: Snapshot) -> None:
    log = AdoptionLog.from_snapshot(world)
    split = split_by_time(log, horizon_s=HORIZON, holdout=0.3)
    held = set(split.held_out.item.tolist())
    assert len(held) > 300
    assert (split.fit.ts < split.cutoff).all()
    assert not held & set(split.fit.item.tolist())
    assert (split.held_out.start >= split.cutoff).all()
    assert (split.held_out.start + HORIZON <= split.end).all()


def test_first_k_adopters_are_the_seeds(world: Snapshot) -> None:
    log = AdoptionLog.from_snapshot(world)
    one = split_by_time(log, horizon_s=HORIZON, seeds_per_item=1)
    two = split_by_time(log, horizon_s=HORIZON, seeds_per_item=2)
    assert two.held_out.seeds.shape == (len(two.held_out), 2)
    assert (two.held_out.observed >= 2).all()
    assert len(two.held_out) + two.too_small == len(one.held_out)
    assert (one.held_out.observed == 1).sum() == two.too_small
    with pytest.raises(ValueError, match="seeds_per_item must be >= 1, got 0"):
        split_by_time(log, horizon_s=HORIZON, seeds_per_item=0)
    with pytest.raises(ValueError, match="holdout must be in"):
        check_log(InfluenceGraph.from_snapshot(world), log, horizon_s=HORIZON, holdout=1.0)


def test_held_out_adoptions_never_reach_the_models(world: Snapshot) -> None:
    """Three extra adopters of every held-out item (after its seed) change what is observed
    but no model's prediction: nothing after the cutoff reaches a fit."""
    log = AdoptionLog.from_snapshot(world)
    split = split_by_time(log, horizon_s=HORIZON, holdout=0.3)
    rng = np.random.default_rng(1)
    extra = [
        Interaction(world.user_ids[int(u)], world.item_ids[int(i)], "purchase", ts=int(t) + DAY)
        for i, t in zip(split.held_out.item, split.held_out.start, strict=True)
        for u in rng.choice(world.num_users, size=3, replace=False)
    ]
    rows = [
        Interaction(world.user_ids[u], world.item_ids[i], "purchase", ts=int(t))
        for u, i, t in zip(world.inter_user, world.inter_item, world.inter_ts, strict=True)
    ]
    changed = build_snapshot(
        [User(u) for u in world.user_ids],
        [Item(i) for i in world.item_ids],
        [
            Friendship(world.user_ids[a], world.user_ids[b], "follow")
            for a, b in zip(world.social_src, world.social_dst, strict=True)
        ],
        rows + extra,
        source="changed",
    )
    kwargs = {"horizon_s": HORIZON, "simulations": 20, "jobs": 1}
    before, _ = run_backtest(world, **kwargs)  # type: ignore[arg-type]
    after, _ = run_backtest(changed, **kwargs)  # type: ignore[arg-type]
    assert before.period == after.period and before.calibrated == after.calibrated
    assert [r["item"] for r in before.items] == [r["item"] for r in after.items]
    grew = [b["observed"] < a["observed"] for b, a in zip(before.items, after.items, strict=True)]
    assert sum(grew) > 0.9 * len(grew)
    for b, a in zip(before.items, after.items, strict=True):
        assert (b["seeds"], b["predicted"]) == (a["seeds"], a["predicted"])


def test_fit_recovers_known_probabilities(world: Snapshot) -> None:
    graph = InfluenceGraph.from_snapshot(world)
    log = AdoptionLog.from_snapshot(world)
    model = fit_calibrated(world, graph, log, horizon_s=HORIZON, simulations=30, jobs=1)
    p = model.probabilities(graph)
    high = graph.sources % 2 == 0
    assert p[high].mean() == pytest.approx(P_HIGH, rel=0.25)
    assert p[~high].mean() == pytest.approx(P_LOW, rel=0.3)
    # The served graph carries exactly these probabilities, and they match learned_from_log.
    direct = learned_from_log(
        graph,
        log.as_snapshot(world),
        window_s=model.window_s,
        smoothing=model.smoothing,
        prior=model.prior,
    )
    assert np.allclose(model.influence_graph(graph).prob, direct.graph.prob, atol=1e-6)  # type: ignore[arg-type]


def test_backtest_intervals_cover_at_nominal_rate_and_beat_weighted_cascade(
    world: Snapshot,
) -> None:
    report, model = run_backtest(world, horizon_s=HORIZON, simulations=50, jobs=1)
    cal, wc = report.score("calibrated"), report.score("weighted_cascade")
    assert report.counts["held_out"] > 300
    assert 0.82 <= cal.coverage90 <= 0.97
    assert 0.35 <= cal.coverage50 <= 0.75
    assert cal.mean_predicted / cal.mean_observed == pytest.approx(1.0, abs=0.25)
    assert cal.spearman is not None and cal.spearman > 0.2
    assert cal.mae < report.score("constant_median").mae
    assert cal.mae < wc.mae
    gap = report.rank_gap_to_followers
    followers = report.score("seed_followers").spearman
    assert gap is not None and followers is not None
    assert gap["difference"] == pytest.approx(cal.spearman - followers)
    assert gap["ci"][0] <= gap["difference"] <= gap["ci"][1]
    # The model to serve: refitted on the whole log, with the headline figures attached.
    assert model.backtest == report.headline()
    assert model.fit_end == report.period["end"]
    restored = CalibratedReach.from_dict(model.to_dict())
    assert restored == model


def test_prediction_intervals_and_warnings(world: Snapshot) -> None:
    graph = InfluenceGraph.from_snapshot(world)
    model = fit_calibrated(
        world, graph, AdoptionLog.from_snapshot(world), horizon_s=HORIZON, simulations=30, jobs=1
    )
    small, large = model.predict(1.0, ["u0000"]), model.predict(40.0, ["u0000"])
    for pred in (small, large):
        assert 1 <= pred.low90 <= pred.low50 <= pred.median <= pred.high50 <= pred.high90
    assert large.expected > small.expected
    assert model.warnings(horizon_s=HORIZON, window_s=model.window_s, num_seeds=1) == []
    assert len(model.warnings(horizon_s=7 * DAY, window_s=10 * 365 * DAY, num_seeds=5)) == 3
    with pytest.raises(ValueError, match="raw_reach must be >= the 2 seeds"):
        model.predict(1.0, ["u0000", "u0001"])


def test_empty_log_falls_back_with_a_reason(tmp_path: Path) -> None:
    snap = build_snapshot(
        [User("a"), User("b")],
        [Item("x")],
        [Friendship("a", "b", "friend")],
        [Interaction("a", "x", "view", ts=1), Interaction("b", "x", "purchase")],
        source="t",
    )
    graph = InfluenceGraph.from_snapshot(snap)
    check = check_log(graph, AdoptionLog.from_snapshot(snap), horizon_s=HORIZON)
    assert not check.usable
    assert check.reason == (
        "only 0 timed purchase adoptions (need >= 100); 1 untimed ones cannot be placed in time"
    )
    with pytest.raises(UnusableLogError, match="no usable adoption log: only 0 timed"):
        run_backtest(snap)
    model, reason = load_for_serving(f"{tmp_path}/missing.json")
    assert model is None and reason is not None and "reach backtest" in reason


def test_credit_distribution_known_answer() -> None:
    # a -> b -> c (b follows a, c follows b); item 1 goes a, b, c; item 2 is a's alone.
    graph = InfluenceGraph.from_edges([0, 1], [1, 2], 3)
    log = AdoptionLog(
        user=np.array([0, 0, 1, 2]),
        item=np.array([0, 1, 0, 0]),
        ts=np.array([0, 0, 10, 20]),
        kinds=("purchase",),
    ).subset(np.ones(4, bool))
    spread = credit_spread(graph, log, window_s=100)
    # kappa(a, b) = 1/A_b = 1, kappa(a, c) = 1 (full credit along the chain) -> 3; b -> c: 2.
    assert spread.tolist() == pytest.approx([3.0, 2.0, 1.0])
    assert set_spread(spread, [0, 1]) == pytest.approx(5.0)
    # With a window shorter than the lags no one gets credit.
    assert credit_spread(graph, log, window_s=5).tolist() == [1.0, 1.0, 1.0]


def test_scores_by_hand() -> None:
    obs = np.array([1, 2, 4, 8])
    pred = Predictions(
        expected=np.array([1.0, 2.0, 3.0, 4.0]),
        point=np.array([1.0, 2.0, 3.0, 4.0]),
        low50=np.array([1.0, 1.0, 1.0, 5.0]),
        high50=np.array([1.0, 3.0, 3.0, 6.0]),
        low90=np.array([1.0, 1.0, 1.0, 1.0]),
        high90=np.array([9.0, 9.0, 9.0, 9.0]),
    )
    s = score_predictions("m", pred, obs, bootstrap=50)
    assert s.spearman == pytest.approx(1.0)
    assert s.mae == pytest.approx((0 + 0 + 1 + 4) / 4)
    assert s.median_abs_log_error == pytest.approx(np.median(np.abs(np.log([1, 1, 0.75, 0.5]))))
    assert (s.coverage50, s.coverage90) == (0.5, 1.0)
    assert (s.mean_predicted, s.mean_observed) == (2.5, 3.75)


def test_both_stores_keep_tag_adoptions(store: GraphStore, tmp_path: Path) -> None:
    store.upsert_users([User("a"), User("b")])
    store.upsert_items([Item("x")])
    store.upsert_interactions(
        [Interaction("a", "x", "tag", ts=100), Interaction("b", "x", "view", ts=50)]
    )
    snap = export_snapshot(store, tmp_path / "snapshot")
    log = AdoptionLog.from_snapshot(snap, ["tag"])
    assert (log.user.tolist(), log.ts.tolist()) == ([snap.user_index["a"]], [100])


def test_choose_horizon_takes_the_longest_the_log_supports(world: Snapshot) -> None:
    graph = InfluenceGraph.from_snapshot(world)
    log = AdoptionLog.from_snapshot(world)
    horizon, check = choose_horizon(graph, log)
    assert horizon == 30 * DAY and check.usable
    # A log whose held-out part is too short for 30 days: the longest usable one is chosen.
    span = 700 * DAY
    too_long = [h for h in (span, 30 * DAY) if not check_log(graph, log, horizon_s=h).usable]
    assert too_long == [span]
    horizon, check = choose_horizon(graph, log, choices=(span, 7 * DAY))
    assert horizon == 7 * DAY and check.usable
    horizon, check = choose_horizon(graph, log, choices=(span,))
    assert horizon == span and not check.usable and "censored" in (check.reason or "")
