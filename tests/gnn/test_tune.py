"""Hyperparameter search on a tiny synthetic world (its CLI: tests/socialrec/test_tune_cli.py)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest

from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.train import train
from gnn.tune import SearchSpace, TuneResult, parse_budget, resolve_config, tune
from graph.snapshot import Snapshot
from tests.gnn.worlds import tune_snapshot

#: Small enough that a trial takes about a second on one thread.
BASE = TrainConfig.for_model(
    "social", embedding_dim=16, num_layers=2, epochs=25, patience=25, batch_size=256, seed=0,
    num_threads=1,
)  # fmt: skip
SPACE = SearchSpace(embedding_dim=(8, 16, 32), num_layers=(1, 3))
TRIALS = 8


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return tune_snapshot()


@pytest.fixture(scope="module")
def data(snapshot: Snapshot) -> TrainData:
    return TrainData.from_snapshot(snapshot, seed=BASE.seed)


def _search(data: TrainData) -> TuneResult:
    """A search that does not start from the defaults: what it finds, it found."""
    return tune(data, BASE, trials=TRIALS, seed=7, space=SPACE, include_base=False, prune_warmup=5)


@pytest.fixture(scope="module")
def searches(data: TrainData) -> tuple[TuneResult, TuneResult]:
    return _search(data), _search(data)


def test_tune_finds_a_config_at_least_as_good_as_the_defaults(
    data: TrainData, searches: tuple[TuneResult, TuneResult]
) -> None:
    result = searches[0]
    defaults = train(data, BASE).valid_metrics[BASE.monitor]
    assert result.best.value is not None
    assert result.best.value >= defaults, (result.best, defaults)
    # best_config is usable as is: training it again gives the value the search recorded
    again = train(data, result.best_config).valid_metrics[BASE.monitor]
    assert again == pytest.approx(result.best.value, abs=1e-9)
    assert result.best_config.epochs == BASE.epochs and result.best_config.seed == BASE.seed
    assert len(result.trials) == TRIALS


def test_tune_is_deterministic_given_the_seed(searches: tuple[TuneResult, TuneResult]) -> None:
    first, second = searches
    assert first.best.params == second.best.params
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.value for t in first.trials] == [t.value for t in second.trials]
    assert [t.state for t in first.trials] == [t.state for t in second.trials]


def test_pruning_stops_bad_trials_after_the_warmup(
    searches: tuple[TuneResult, TuneResult],
) -> None:
    trials = searches[0].trials
    pruned = [t for t in trials if t.state == "pruned"]
    assert pruned, "no trial pruned; the pruner is not fed"
    assert all(5 <= t.epochs_run < BASE.epochs for t in pruned)
    best = searches[0].best
    assert all(t.value is not None and t.value <= best.value for t in pruned)  # type: ignore[operator]


def test_the_searched_fields_stay_in_the_space(searches: tuple[TuneResult, TuneResult]) -> None:
    for t in searches[0].trials:
        assert SPACE.lr[0] <= t.params["lr"] <= SPACE.lr[1]
        assert t.params["embedding_dim"] in SPACE.embedding_dim
        assert t.params["ssl_weight"] in (*SPACE.ssl_weight, BASE.ssl_weight)
        assert ("ssl_eps" in t.params) == (t.params["ssl_weight"] > 0)


def test_include_base_makes_trial_zero_the_defaults(data: TrainData) -> None:
    """Even values outside the space (lr, layers, dim here): the space widens to hold them."""
    base = replace(BASE, model="lightgcn", epochs=3, lr=0.09, num_layers=5, embedding_dim=12)
    epochs: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Optuna warns on out-of-range values
        result = tune(
            data, base, trials=1, seed=0, space=SPACE,
            epoch_progress=lambda number, record: epochs.append((number, record.epoch)),
        )  # fmt: skip
    assert epochs == [(0, 1), (0, 2), (0, 3)]
    assert result.trials[0].params == {
        "lr": base.lr, "reg_weight": base.reg_weight,
        "embedding_dim": base.embedding_dim, "num_layers": base.num_layers,
    }  # fmt: skip
    assert result.best_config == base


def test_a_budget_stops_the_search(data: TrainData) -> None:
    with pytest.raises(ValueError, match="no trial completed within the budget"):
        tune(data, BASE, budget_s=1e-3, seed=0, space=SPACE)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("20m", 1200.0), ("1h", 3600.0), ("1.5m", 90.0), ("45", 45.0)],
)
def test_parse_budget(text: str, seconds: float) -> None:
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "ten minutes", "5d", "-3s"])
def test_parse_budget_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="budget must be a positive duration"):
        parse_budget(text)


def test_tune_rejects_no_stopping_rule(data: TrainData) -> None:
    with pytest.raises(ValueError, match="give trials or budget_s"):
        tune(data, BASE)


def test_resolve_config_order_and_unknown_keys() -> None:
    config = resolve_config({"model": "social", "lr": 0.01, "ks": [5, 10]}, epochs=7)
    social = TrainConfig.for_model("social")
    assert (config.model, config.lr, config.ks, config.epochs) == ("social", 0.01, (5, 10), 7)
    assert config.reg_weight == social.reg_weight  # the model's default, not the field's
    assert resolve_config(config.to_dict()) == config
    assert resolve_config({"model": "social"}, "lightgcn").model == "lightgcn"
    with pytest.raises(ValueError, match="unknown key 'learning_rate'"):
        resolve_config({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="lr must be a positive number"):
        resolve_config({"lr": -1.0})
    with pytest.raises(ValueError, match="wrong type"):
        resolve_config({"lr": "fast"})
