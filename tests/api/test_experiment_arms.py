"""The first request of an experiment's arm builds it (reading the variant's checkpoint) in
the threadpool, not on the event loop that serves every other request; later requests reuse
it without leaving the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_experiments
from gnn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from graph.snapshot import read_snapshot
from serving.experiment_serving import ExperimentServing
from serving.experiments import Experiment, ExperimentRegistry, Variant, assign
from tests.api.social_graph import checkpoint_for, make_settings


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_variant_checkpoint_is_read_off_the_event_loop(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    neg = tmp_path / "neg.pt"
    save_checkpoint(checkpoint_for(read_snapshot(tmp_path / "snapshot"), sign=-1.0), neg)
    reads: list[bool] = []  # per checkpoint read: was it on a running event loop?

    def load(path: str | Path) -> Checkpoint:
        reads.append(_on_event_loop())
        return load_checkpoint(path)

    registry = ExperimentRegistry(tmp_path / "experiments.json", refresh_s=0)
    variants = (Variant("control", 0.5), Variant("neg", 0.5, checkpoint=str(neg)))
    experiment = registry.create(Experiment("flip", variants))
    user = next(u for u in "abcdef" if assign(experiment, u) == "neg")
    serving = ExperimentServing(registry, load=load)
    app = create_app(settings)
    app.dependency_overrides[get_experiments] = lambda: serving
    with TestClient(app) as client:
        for _ in range(3):
            answer = client.get(f"/api/v1/users/{user}/recommendations?k=2")
            assert answer.status_code == 200, answer.text
            assert answer.json()["variant"] == "neg"
    assert reads == [False]  # read once, in a worker thread
