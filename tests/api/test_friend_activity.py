"""``FriendActivity``: the friends behind each item, as reasons list them."""

from __future__ import annotations

import numpy as np
import pytest

from graph.schema import Friendship, Interaction, Item, User, canonical_friendship
from graph.snapshot import build_snapshot
from serving.live import FriendActivity, LiveGraph


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_live_graph_activity_equals_the_friends_histories(seed: int) -> None:
    """The vectorised gather equals the definition: every served friend's whole history
    (snapshot rows and live events), deleted friends left out."""
    rng = np.random.default_rng(seed)
    users = [User(f"u{n:02d}") for n in range(30)]
    items = [Item(f"i{n}") for n in range(15)]
    friendships = {
        canonical_friendship(Friendship(f"u{a:02d}", f"u{b:02d}", kind))
        for a, b, kind in zip(
            rng.integers(30, size=60),
            rng.integers(30, size=60),
            rng.choice(["friend", "follow"], size=60),
            strict=True,
        )
        if a != b
    }
    rows = [
        Interaction(f"u{rng.integers(30):02d}", f"i{rng.integers(15)}", "view", ts=int(t))
        for t in rng.integers(-1, 1000, size=200)
    ]
    live = LiveGraph(build_snapshot(users, items, friendships, rows, source="random"))
    live.add_users([User("new")])
    live.add_interactions(
        [
            Interaction(f"u{u:02d}", f"i{rng.integers(15)}", "purchase", ts=2000)
            for u in range(0, 30, 3)
        ]
    )
    live.delete_user("u04")
    live.delete_user("u17")
    for user in [u.user_id for u in users] + ["new"]:
        activity = live.friend_activity(user)
        friends = sorted({n.user_id for n in live.following(user)})
        histories = [live.history(f) for f in friends]
        expected = FriendActivity(
            friends,
            np.concatenate([h.items for h in histories] or [np.zeros(0, np.int64)]),
            np.concatenate([h.ts for h in histories] or [np.zeros(0, np.int64)]),
            np.repeat(np.arange(len(friends)), [len(h) for h in histories]),
            len(items),
        )
        assert activity.counts.tolist() == expected.counts.tolist(), user
        assert [activity.get(i) for i in range(len(items))] == [
            expected.get(i) for i in range(len(items))
        ], user
