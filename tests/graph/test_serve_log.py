"""The serve log contract (graph.serve_log), run against every backend of the ``store`` fixture."""

from __future__ import annotations

import pytest

from graph.serve_log import Attribution, Serve, ServeLog
from graph.store import GraphStore
from tests.serve_log_rows import A, B, C, flat_attributions, flat_serves


def test_a_store_is_a_serve_log_that_round_trips_serves(store: GraphStore) -> None:
    assert isinstance(store, ServeLog)
    assert store.serve_counts() == (0, 0)
    assert store.record_serves([A, B, C]) == 3
    assert store.record_serves([A]) == 1  # a known id is left as stored
    assert store.serve_counts() == (3, 0)
    assert flat_serves(store) == [A, C, B]  # by (ts, serve_id)
    assert flat_serves(store, batch_size=1) == [A, C, B]
    assert flat_serves(store, since=150) == [C, B]
    assert sorted(store.serves_by_id(["s-b", "nope", "s-a"]), key=lambda s: s.ts) == [A, B]
    assert store.serves_of(["u1"], 0, 1000) == [B, A]  # newest first
    assert store.serves_of(["u1", "u2"], 0, 1000) == [B, C, A]
    assert store.serves_of(["u1"], 101, 200) == [B]
    assert store.serves_of(["u2"], 0, 149) == []
    assert store.serves_of(["u1", "u2"], 0, 1000, ["i3", "i9"]) == [B, A]  # both showed i3
    assert store.serves_of(["u1", "u2"], 0, 1000, ["i1"]) == [C, A]
    assert store.serves_of(["u1"], 0, 1000, ["i7"]) == []


def test_a_serve_with_no_items_keeps_its_experiment(store: GraphStore) -> None:
    empty = Serve("s-e", "u9", 5, "rec", (), None, "exp", "holdout")
    twice = Serve("s-f", "u9", 6, "feed", ("i1", "i2", "i1"))  # two posts of one item
    store.record_serves([empty, twice])
    assert sorted(store.serves_by_id(["s-e", "s-f"]), key=lambda s: s.ts) == [empty, twice]
    assert twice.position("i1") == 1


def test_bad_serves_are_refused_before_anything_is_written(store: GraphStore) -> None:
    with pytest.raises(ValueError, match="surface"):
        store.record_serves([A, Serve("x", "u1", 1, "email", ())])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="serve_id"):
        store.record_serves([Serve("", "u1", 1, "rec", ("i1",))])
    assert store.serve_counts() == (0, 0)


def test_attributions_upsert_by_the_event_key_and_page_in_order(store: GraphStore) -> None:
    store.record_serves([A, B, C])
    first = Attribution("u1", "i3", "click", 210, 1.0, "s-a", 3, "last_touch")
    again = Attribution("u1", "i3", "click", 210, 1.0, "s-b", 1, "explicit")
    other = Attribution("u2", "i1", "purchase", 160, 2.0, "s-c", 1, "last_touch")
    assert store.record_attributions([first, other]) == 2
    store.record_attributions([again])
    assert store.serve_counts() == (3, 2)
    assert flat_attributions(store) == [other, again]
    assert flat_attributions(store, batch=1) == [other, again]
    assert flat_attributions(store, since=200) == [again]


def test_compaction_bounds_the_log_by_age_and_by_rows(store: GraphStore) -> None:
    serves = [Serve(f"s{n:02d}", f"u{n % 3}", 10 * n, "rec", ("i1",)) for n in range(10)]
    store.record_serves(serves)
    store.record_attributions(
        [
            Attribution(s.user_id, "i1", "click", s.ts + 1, 1.0, s.serve_id, 1, "explicit")
            for s in serves
        ]
    )
    with pytest.raises(ValueError, match="before_ts"):
        store.compact_serves(-1)
    with pytest.raises(ValueError, match="max_serves"):
        store.compact_serves(0, max_serves=-1)
    assert store.compact_serves(30) == 3  # ts 0, 10, 20
    assert [s.serve_id for s in flat_serves(store)] == [f"s{n:02d}" for n in range(3, 10)]
    assert store.serve_counts() == (7, 7)
    assert store.compact_serves(0, max_serves=4) == 3  # the oldest beyond the newest 4
    assert [s.serve_id for s in flat_serves(store)] == ["s06", "s07", "s08", "s09"]
    assert [a.serve_id for a in flat_attributions(store)] == ["s06", "s07", "s08", "s09"]
    assert store.compact_serves(0, max_serves=10) == 0


def test_campaign_records_round_trip(store: GraphStore) -> None:
    assert store.campaign_bodies() == []
    store.record_campaign("c2", 20, ["k1", "k2"], '{"n": 2}')
    store.record_campaign("c1", 10, ["k2", "k3"], '{"n": 1}')
    store.record_campaign("c1", 30, ["k1"], '{"n": "again"}')  # a known id is left as stored
    assert store.campaign_bodies() == ['{"n": 1}', '{"n": 2}']
    assert store.campaign_bodies("c2") == ['{"n": 2}']
    assert store.campaign_bodies("nope") == []
    store.delete_user("k1")  # c1 was stored without k1: only c2 names them
    assert store.campaign_bodies() == ['{"n": 1}']
    store.delete_user("k3")
    assert store.campaign_bodies() == []
