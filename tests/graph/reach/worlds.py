"""Worlds with known reach answers, shared by the reach tests (a helpers module, not tests).

``ic_world`` is an independent cascade with known per-edge probabilities: each item starts at
one random user at a random time, every adopter ``u`` activates each follower ``v`` with
probability ``P_LOW`` or ``P_HIGH`` (by ``u``'s group) after an exponential delay, plus a few
background adopters who follow no one in the cascade.
"""

from __future__ import annotations

import heapq

import numpy as np

from graph.schema import Friendship, Interaction, Item, User
from graph.snapshot import Snapshot, build_snapshot

DAY = 86_400
P_LOW, P_HIGH = 0.05, 0.2
HORIZON = 30 * DAY


def ic_rows(
    num_users: int = 300, num_items: int = 2500, follows: int = 4, seed: int = 0
) -> tuple[list[User], list[Item], list[Friendship], list[Interaction]]:
    """Users ``u0..``; ``u`` with an even index spreads with ``P_HIGH``, odd with ``P_LOW``."""
    rng = np.random.default_rng(seed)
    users = [f"u{i:04d}" for i in range(num_users)]
    followers: list[list[int]] = [[] for _ in range(num_users)]
    friendships = []
    for v in range(num_users):
        for u in rng.choice(num_users, size=follows, replace=False):
            if u != v:
                followers[int(u)].append(v)
                friendships.append(Friendship(users[v], users[int(u)], "follow"))
    interactions = []
    for i in range(num_items):
        start = int(rng.integers(0, 700 * DAY))
        when = {int(rng.integers(num_users)): start}
        heap = [(start, next(iter(when)))]
        while heap:
            t, u = heapq.heappop(heap)
            if when[u] < t:
                continue
            p = P_HIGH if u % 2 == 0 else P_LOW
            for v in followers[u]:
                if rng.random() < p:
                    tv = t + 1 + int(rng.exponential(0.2 * DAY))
                    if tv < when.get(v, np.iinfo(np.int64).max):
                        when[v] = tv
                        heapq.heappush(heap, (tv, v))
        for _ in range(rng.poisson(0.3)):
            when.setdefault(int(rng.integers(num_users)), start + int(rng.integers(1, 20 * DAY)))
        interactions += [
            Interaction(users[u], f"i{i:05d}", "purchase", ts=t) for u, t in when.items()
        ]
    items = [Item(f"i{i:05d}") for i in range(num_items)]
    return [User(u) for u in users], items, friendships, interactions


def ic_world(**kwargs: int) -> Snapshot:
    """The snapshot of :func:`ic_rows`."""
    return build_snapshot(*ic_rows(**kwargs), source="ic_world")
