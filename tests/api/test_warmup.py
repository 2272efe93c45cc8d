"""The reach kernels are compiled when the serving state loads, not in a request."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph.reach import cover, rr_sets, simulate
from serving import state
from serving.settings import Settings


def test_startup_warms_the_reach_kernels(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(state, "warm_reach_kernels", lambda: calls.append(1) or 0.0)
    with TestClient(create_app(settings)):
        assert calls == [1]  # in the lifespan, before the first request


def test_warm_up_compiles_what_requests_run(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="serving.state"):
        seconds = state.warm_reach_kernels.__wrapped__()
    assert seconds > 0
    assert "reach kernels ready in" in caplog.text
    for kernel in (simulate._simulate_chunk, rr_sets._rr_chunk, cover.greedy_cover):
        assert kernel.signatures, kernel  # compiled (or loaded from numba's cache)
