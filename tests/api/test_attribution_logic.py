"""serving.attribution: last-touch and explicit attribution, exact on scripted sequences, and the
background serve recorder (unit tests; the real-server tests are in test_attribution_server.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from graph.schema import Interaction
from graph.serve_log import Serve
from graph.sqlite_store import SQLiteStore
from serving import attribution
from serving.attribution import ServeRecorder, Touch, attribute, touches
from serving.events import Impression, StoreGateway
from serving.settings import Settings

HOUR = 3600
NOW = 1_704_067_300
S1 = Serve("s1", "u1", 1000, "rec", ("i1", "i2", "i3"))
S2 = Serve("s2", "u1", 2000, "feed", ("i9", "i2"))
OTHER = Serve("s3", "u2", 1500, "rec", ("i2",))
RECENT = {"u1": [S1, S2], "u2": [OTHER]}
BY_ID = {s.serve_id: s for s in (S1, S2, OTHER)}


def one(event: Touch, window_s: int = 24 * HOUR) -> tuple[str, int, str] | None:
    found = attribute([event], BY_ID, RECENT, window_s)
    assert len(found) <= 1
    return None if not found else (found[0].serve_id, found[0].position, found[0].method)


def test_a_click_within_the_window_goes_to_the_serve_with_its_position() -> None:
    assert one(Touch("u1", "i3", "click", 1000 + 10, 1.0)) == ("s1", 3, "last_touch")
    assert one(Touch("u1", "i3", "click", 1000, 1.0)) == ("s1", 3, "last_touch")  # same second


def test_the_window_bounds_last_touch_inclusively() -> None:
    assert one(Touch("u1", "i1", "click", 1000 + HOUR, 1.0), HOUR) == ("s1", 1, "last_touch")
    assert one(Touch("u1", "i1", "click", 1000 + HOUR + 1, 1.0), HOUR) is None
    assert one(Touch("u1", "i1", "click", 999, 1.0)) is None  # before the serve


def test_two_serves_then_a_purchase_goes_to_the_most_recent_serve_of_the_item() -> None:
    assert one(Touch("u1", "i2", "purchase", 2500, 1.0)) == ("s2", 2, "last_touch")
    # i1 was only in the older serve: that one, though a newer serve exists.
    assert one(Touch("u1", "i1", "purchase", 2500, 1.0)) == ("s1", 1, "last_touch")
    # the newer serve is outside the window for an event before it
    assert one(Touch("u1", "i2", "purchase", 1999, 1.0)) == ("s1", 2, "last_touch")


def test_an_explicit_serve_id_wins_over_last_touch() -> None:
    event = Touch("u1", "i2", "click", 2500, 1.0, serve_id="s1")
    assert one(event) == ("s1", 2, "explicit")
    # explicit ignores the window: the client says where the click came from
    assert one(Touch("u1", "i2", "click", 10**6, 1.0, serve_id="s1")) == ("s1", 2, "explicit")


def test_an_explicit_serve_id_that_does_not_fit_falls_back_to_last_touch() -> None:
    newest = ("s2", 2, "last_touch")
    assert one(Touch("u1", "i2", "click", 2500, 1.0, serve_id="s3")) == newest  # u2's serve
    assert one(Touch("u1", "i2", "click", 2500, 1.0, serve_id="gone")) == newest  # compacted
    # the named serve did not show the item
    assert one(Touch("u1", "i1", "click", 1500, 1.0, serve_id="s2")) == ("s1", 1, "last_touch")


def test_items_never_served_to_the_user_stay_unattributed() -> None:
    assert one(Touch("u1", "i7", "click", 1500, 1.0)) is None
    assert one(Touch("u2", "i1", "click", 1500, 1.0)) is None  # i1 served to u1 only
    assert one(Touch("u3", "i1", "click", 1500, 1.0)) is None


def test_every_event_of_a_batch_is_attributed_on_its_own() -> None:
    events = [
        Touch("u1", "i2", "impression", 2001, 0.0),
        Touch("u1", "i2", "click", 2002, 1.0),
        Touch("u2", "i2", "purchase", 1600, 2.0),
        Touch("u1", "i4", "click", 2003, 1.0),
    ]
    found = attribute(events, BY_ID, RECENT, HOUR)
    assert [(a.user_id, a.kind, a.serve_id, a.value) for a in found] == [
        ("u1", "impression", "s2", 0.0),
        ("u1", "click", "s2", 1.0),
        ("u2", "purchase", "s3", 2.0),
    ]


def test_the_recorder_queues_serves_and_writes_them_in_batches() -> None:
    written: list[Sequence[Serve]] = []
    recorder = ServeRecorder(written.append, max_pending=3)
    ids = [recorder.record("u1", "rec", ["i1", "i2"], model="m", ts=5) for _ in range(4)]
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)
    assert recorder.pending == 3 and recorder.dropped == 1  # the queue is bounded
    assert recorder.flush() == 3
    assert [s.serve_id for batch in written for s in batch] == ids[:3]
    assert written[0][0] == Serve(ids[0], "u1", 5, "rec", ("i1", "i2"), "m")
    assert recorder.flush() == 0


def test_a_failed_write_drops_its_batch_and_the_background_thread_keeps_going() -> None:
    calls: list[int] = []
    wrote = threading.Event()

    def write(batch: Sequence[Serve]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise OSError("store down")
        wrote.set()

    recorder = ServeRecorder(write, interval_s=0.01)
    recorder.record("u1", "feed", ["i1"], model=None, experiment="e", variant="b")
    with pytest.raises(OSError):
        recorder.flush()
    assert recorder.dropped == 1
    recorder.start()
    recorder.record("u1", "feed", ["i1"], model=None)
    assert wrote.wait(5)
    recorder.stop()
    assert calls == [1, 1] and recorder.pending == 0


def test_stop_writes_what_is_queued() -> None:
    written: list[Serve] = []
    recorder = ServeRecorder(written.extend, interval_s=60)
    recorder.start()
    recorder.record("u1", "rec", ["i1"], model=None)
    recorder.stop()
    assert len(written) == 1


def test_recorder_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_pending"):
        ServeRecorder(lambda batch: None, max_pending=0)


def test_touches_carry_each_entrys_serve_id_to_the_accepted_rows() -> None:
    events: list[dict[str, str | None]] = [
        {"user_id": "u1", "item_id": "i1", "kind": "click", "ts": "2024-01-01T00:00:00"},
        {"user_id": "u1", "item_id": "i2", "kind": "purchase", "ts": None},  # ts: now
        {"user_id": "u1", "item_id": "i3", "kind": "impression", "ts": "100"},
        {"user_id": "u1", "item_id": "i4", "kind": "click", "ts": "not a time"},  # rejected
    ]
    accepted = [
        Interaction("u1", "i1", "click", 1.0, 1_704_067_200),
        Interaction("u1", "i2", "purchase", 2.0, NOW),
    ]
    found = touches(
        events,
        ["s1", None, "s3", "s4"],
        accepted,
        [Impression("u1", "i3", None, 100), Impression("u1", None, "post", 100)],
        now=NOW,
    )
    assert found == [
        Touch("u1", "i1", "click", 1_704_067_200, 1.0, "s1"),
        Touch("u1", "i2", "purchase", NOW, 2.0, None),
        Touch("u1", "i3", "impression", 100, 1.0, "s3"),
    ]


def test_the_flusher_compacts_the_log_on_its_interval() -> None:
    compacted = threading.Event()
    recorder = ServeRecorder(
        lambda batch: None, interval_s=0.01, compact=compacted.set, compact_interval_s=0.05
    )
    recorder.start()
    assert compacted.wait(5)
    recorder.stop()


def test_the_servers_recorder_writes_and_compacts_a_real_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attribution, "COMPACT_INTERVAL_S", 0.05)
    settings = Settings(_env_file=None).with_overrides(  # type: ignore[call-arg, unused-ignore]
        serve_log_retention_days=3600 / 86_400, serve_log_flush_s=0.01
    )
    gateway = StoreGateway(lambda: SQLiteStore(tmp_path / "graph.sqlite3"))
    try:
        recorder = attribution.open_serve_recorder(settings, gateway)
        assert recorder is not None
        old = recorder.record("u1", "rec", ["i1"], model=None, ts=int(time.time()) - 7200)
        new = recorder.record("u1", "rec", ["i1"], model=None)
        recorder.start()
        deadline = time.monotonic() + 10
        while gateway.call(lambda s: [x.serve_id for x in s.serves_by_id([old, new])]) != [new]:
            assert time.monotonic() < deadline, "the 2-hour-old serve was not compacted"
            time.sleep(0.05)
        recorder.stop()
    finally:
        gateway.close()
    off = settings.with_overrides(serve_log=False)
    assert attribution.open_serve_recorder(off, gateway) is None  # the store is not touched
