"""benchmarks/datasets.py: its sampling and option parsing, and a --quick smoke run on the
shared data (skipped where ../shared/data is absent)."""

from __future__ import annotations

import re

import pytest

from benchmarks.datasets import DEFAULT_DATA, find_sets, main, parse_overrides, snowball_users


def test_snowball_keeps_friends_together() -> None:
    users = "abcdef"
    inter = [[u, "i"] for u in users for _ in range(2)]  # two interactions per user
    net = [[users[n], users[n + 1]] for n in range(5)]  # a path: a - b - c - d - e - f
    runs = {"".join(sorted(users[n : n + 3])) for n in range(4)}
    for seed in range(10):  # breadth-first on a path: three neighbours in a row
        kept = snowball_users(inter, net, max_interactions=6, seed=seed)
        assert "".join(sorted(kept)) in runs
    assert snowball_users(inter, net, max_interactions=100, seed=0) == set(users)


def test_overrides_are_typed_and_checked() -> None:
    assert parse_overrides(["social.ssl_weight=0", "lightgcn.epochs=3"]) == {
        "social": {"ssl_weight": 0.0},
        "lightgcn": {"epochs": 3},
    }
    with pytest.raises(ValueError, match=r"MODEL\.FIELD=VALUE"):
        parse_overrides(["social.nope=1"])


@pytest.mark.skipif(
    not DEFAULT_DATA.is_dir() or "lastfm" not in find_sets(DEFAULT_DATA),
    reason="../shared/data/lastfm is absent (research data, not shipped)",
)
def test_quick_run_prints_the_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--sets", "lastfm"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("lastfm seed 2020 social: best epoch") for line in lines)
    last = lines[-1]
    assert last.startswith("RESULT lastfm_lightgcn_ndcg@10=")
    values = dict(re.findall(r"(\S+)=(\S+)", last))
    for key in ("lastfm_social_ndcg@10", "lastfm_popular_ndcg@10", "min_model_over_popular"):
        assert float(values[key]) >= 0.0
    assert float(values["lastfm_popular_ndcg@10"]) > 0.0
