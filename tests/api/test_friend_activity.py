"""``FriendActivity``: the friends behind each item, as reasons list them."""

from __future__ import annotations

import numpy as np

from api.services.live import FriendActivity


def test_latest_time_per_friend_most_recent_first_unknown_last_then_id() -> None:
    # friends (sorted ids): 0 "ann", 1 "bob", 2 "cy"; item 3 seen by all, item 1 by bob twice
    activity = FriendActivity(
        ["ann", "bob", "cy"],
        items=np.array([3, 3, 3, 1, 1, 3, 3]),
        ts=np.array([10, 50, -1, 5, 7, 20, 50]),
        friend=np.array([0, 0, 2, 1, 1, 1, 1]),
        num_items=5,
    )
    assert activity.get(3) == [(50, "ann"), (50, "bob"), (-1, "cy")]
    assert activity.get(1) == [(7, "bob")]
    assert activity.get(0) == []
    assert activity.counts.tolist() == [0.0, 1.0, 0.0, 3.0, 0.0]


def test_empty() -> None:
    activity = FriendActivity.empty(3)
    assert activity.get(2) == []
    assert activity.counts.tolist() == [0.0, 0.0, 0.0]
