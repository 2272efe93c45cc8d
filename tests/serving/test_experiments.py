"""Experiment definitions: validation, deterministic assignment by salted hash, shares, the
JSON registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from serving.experiments import (
    HOLDOUT,
    Experiment,
    ExperimentError,
    ExperimentRegistry,
    Variant,
    assign,
    bucket,
    experiment_from_dict,
)


def ab(name: str = "exp", holdout: float = 0.0, **kwargs: object) -> Experiment:
    half = (1 - holdout) / 2
    return Experiment(
        name,
        (Variant("a", half), Variant("b", half, strategy="popular")),
        holdout_share=holdout,
        **kwargs,  # type: ignore[arg-type]
    )


def test_bucket_is_sha256_of_salt_and_user() -> None:
    # int(sha256(b"exp\x1fu1")[:8]) / 2**64, computed independently.
    assert bucket("exp", "u1") == pytest.approx(0.7053867358611542, abs=1e-15)


def test_assignment_is_the_same_in_another_process() -> None:
    users = [f"u{i}" for i in range(50)]
    here = [assign(ab(), u) for u in users]
    code = (
        "from serving.experiments import Experiment, Variant, assign\n"
        "e = Experiment('exp', (Variant('a', .5), Variant('b', .5, strategy='popular')))\n"
        f"print(','.join(assign(e, f'u{{i}}') for i in range({len(users)})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.split(",") == here


@pytest.mark.parametrize("holdout", [0.0, 0.1])
def test_assignment_follows_the_shares(holdout: float) -> None:
    experiment = Experiment(
        "shares",
        (Variant("a", 0.5 * (1 - holdout)), Variant("b", 0.3), Variant("c", 0.2 - 0.5 * holdout)),
        holdout_share=holdout,
    )
    n = 40_000
    got = [assign(experiment, f"user-{i}") for i in range(n)]
    expected = {"a": 0.5 * (1 - holdout), "b": 0.3, "c": 0.2 - 0.5 * holdout}
    if holdout:
        expected[HOLDOUT] = holdout
    assert set(got) == set(expected)
    for name, share in expected.items():
        observed = got.count(name) / n
        assert abs(observed - share) < 4 * np.sqrt(share * (1 - share) / n), name


def test_a_new_salt_reshuffles_and_the_same_salt_does_not() -> None:
    users = [f"u{i}" for i in range(2000)]
    first = [assign(ab(salt="s1"), u) for u in users]
    assert first == [assign(ab(salt="s1"), u) for u in users]
    other = [assign(ab(salt="s2"), u) for u in users]
    agree = np.mean([x == y for x, y in zip(first, other, strict=True)])
    assert 0.4 < agree < 0.6  # independent halves agree about half the time


def test_growing_the_holdout_keeps_the_held_out_users_held_out() -> None:
    users = [f"u{i}" for i in range(3000)]
    small = [assign(ab(holdout=0.1, salt="x"), u) for u in users]
    large = [assign(ab(holdout=0.2, salt="x"), u) for u in users]
    assert small.count(HOLDOUT) > 200
    assert all(g == HOLDOUT for s, g in zip(small, large, strict=True) if s == HOLDOUT)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Experiment("e", (Variant("a", 0.5), Variant("b", 0.4))), "sum to 1"),
        (lambda: Experiment("e", (Variant("a", 0.5), Variant("a", 0.5))), "unique"),
        (lambda: Experiment("e", (Variant("a", 1.0),)), "two variants"),
        (lambda: Experiment("e", ()), "at least one variant"),
        (lambda: Experiment("e f", (Variant("a", 0.5), Variant("b", 0.5))), "experiment name"),
        (lambda: Experiment("e", (Variant("a", 0.5), Variant(HOLDOUT, 0.5))), "reserved"),
        (
            lambda: Experiment("e", (Variant("a", 0.5), Variant("b", 0.5)), holdout_share=1.0),
            "holdout_share",
        ),
        (
            lambda: Experiment("e", (Variant("a", 0.5), Variant("b", 0.5, social_boost=-1))),
            "social_boost",
        ),
        (
            lambda: Experiment("e", (Variant("a", 0.5), Variant("b", 0.5, feed_cap_impressions=0))),
            "feed_cap_impressions",
        ),
        (lambda: Experiment("e", (Variant("a", 0.5), Variant("b", 0.5, strategy="x"))), "strategy"),  # type: ignore[arg-type]
        (lambda: Experiment("e", (Variant("a", 0.0), Variant("b", 1.0))), "share must be"),
    ],
)
def test_invalid_definitions_are_refused_with_the_reason(make: object, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        make()  # type: ignore[operator]


def test_one_variant_and_a_holdout_is_an_experiment() -> None:
    e = Experiment("e", (Variant("social", 0.9, social_boost=0.5),), holdout_share=0.1)
    assert e.variant_names == ["social", HOLDOUT]
    assert e.variant(HOLDOUT) is None
    assert e.variant("social").knobs() == {"social_boost": 0.5}  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="no variant 'x'"):
        e.variant("x")


def test_registry_round_trip_one_active_and_stop(tmp_path: Path) -> None:
    path = tmp_path / "experiments.json"
    registry = ExperimentRegistry(path, refresh_s=0)
    assert registry.active() is None and registry.assignment("u1") is None
    created = registry.create(ab("first"))
    assert created.created_ts > 0 and created.salt == "first"
    with pytest.raises(ExperimentError, match="exists already"):
        registry.create(ab("first"))
    with pytest.raises(ExperimentError, match="is active"):
        registry.create(ab("second"))
    other = ExperimentRegistry(path, refresh_s=0)  # another process on the same work dir
    assert other.get("first") == created
    got = other.assignment("u1")
    assert got is not None and got.experiment == "first"
    assert got.variant == assign(created, "u1")
    registry.stop("first")
    registry.create(ab("second"))
    assert [e.name for e in other.experiments()] == ["first", "second"]
    assert other.active() is not None and other.active().name == "second"  # type: ignore[union-attr]
    rows = json.loads(path.read_text())
    assert experiment_from_dict(rows[0]) == other.get("first")
    with pytest.raises(KeyError, match="no experiment named 'nope'"):
        registry.stop("nope")


def test_a_bad_stored_definition_names_the_problem() -> None:
    with pytest.raises(ExperimentError, match="invalid experiment definition"):
        experiment_from_dict({"name": "e", "variants": [{"name": "a", "share": 1, "colour": 1}]})
