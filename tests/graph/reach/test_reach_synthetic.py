"""The synthetic world's fan-loyalty knob: overlapping KOL audiences for the reach benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from graph.synthetic import World, WorldConfig, generate_world

BASE = {"num_users": 6000, "num_items": 200, "kol_fraction": 0.01, "kol_niche_share": 0.9}


def _niches_per_fan(world: World) -> float:
    """Mean number of distinct KOL niches among the KOL follows of users with 2+ of them."""
    niche_of = dict(zip(world.kol_users.tolist(), world.kol_niche.tolist(), strict=True))
    to_kol = np.isin(world.follow_dst, world.kol_users)
    fans: dict[int, set[int]] = {}
    counts: dict[int, int] = {}
    src, dst = world.follow_src[to_kol].tolist(), world.follow_dst[to_kol].tolist()
    for u, v in zip(src, dst, strict=True):
        fans.setdefault(u, set()).add(niche_of[v])
        counts[u] = counts.get(u, 0) + 1
    return float(np.mean([len(fans[u]) for u, c in counts.items() if c >= 2]))


def _same_niche_jaccard(world: World) -> float:
    """Mean follower Jaccard over pairs of same-niche KOLs with >= 20 followers each."""
    audiences = [set(world.follow_src[world.follow_dst == k].tolist()) for k in world.kol_users]
    values = [
        len(audiences[i] & audiences[j]) / len(audiences[i] | audiences[j])
        for i in range(len(audiences))
        for j in range(i + 1, len(audiences))
        if world.kol_niche[i] == world.kol_niche[j]
        and min(len(audiences[i]), len(audiences[j])) >= 20
    ]
    assert len(values) >= 10
    return float(np.mean(values))


def test_fan_loyalty_concentrates_follows_and_overlaps_audiences() -> None:
    free, loyal = (
        generate_world(WorldConfig(**BASE, kol_fan_loyalty=loyalty, seed=4))  # type: ignore[arg-type]
        for loyalty in (0.0, 1.0)
    )
    # Same users, communities, KOLs and niches: the knob only redirects niche follows.
    np.testing.assert_array_equal(free.kol_users, loyal.kol_users)
    np.testing.assert_array_equal(free.kol_niche, loyal.kol_niche)
    # Repeated follows of a niche's top KOLs are dropped, so a few follows are lost.
    assert 0.9 * free.follow_src.shape[0] < loyal.follow_src.shape[0] <= free.follow_src.shape[0]
    # A loyal fan's KOL follows stay in fewer niches, so same-niche audiences overlap more.
    assert _niches_per_fan(loyal) < _niches_per_fan(free) - 0.2
    assert _same_niche_jaccard(loyal) > 1.3 * _same_niche_jaccard(free)


def test_fan_loyalty_is_validated() -> None:
    with pytest.raises(ValueError, match=r"kol_fan_loyalty must be in \[0, 1\], got 1.5"):
        WorldConfig(kol_fan_loyalty=1.5)
