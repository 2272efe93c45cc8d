"""Training on a GPU trains the model that training on the CPU trains: same seed, same draws
(negatives and batches come from the CPU generator; the contrastive noise is a counter-based
hash keyed by one draw from it and computed on the device, the same bytes on both), so the same
losses and embeddings up to float rounding. Runs only where torch sees a GPU; this file imports no
server or store package, so it runs on a bare GPU box with ``pytest --noconftest``."""

from __future__ import annotations

import pytest
import torch

from gnn.config import TrainConfig
from gnn.data import TrainData
from gnn.models.noise import hashed_bytes
from gnn.train import Replicas, train
from graph.synthetic import WorldConfig, generate_world

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


@pytest.mark.parametrize("model", ["lightgcn", "social"])
def test_gpu_training_matches_cpu_training(model: str) -> None:
    snapshot = generate_world(WorldConfig(num_users=300, num_items=120, seed=3)).to_snapshot()
    config = TrainConfig.for_model(
        model, embedding_dim=16, num_layers=2, batch_size=256, epochs=3, patience=3, seed=0
    )
    data = TrainData.from_snapshot(snapshot, seed=0, kinds=config.kinds, ratios=config.ratios)
    on_cpu = train(data, config)
    on_gpu = train(data, config, replicas=Replicas("cuda"))
    torch.testing.assert_close(
        [r.loss for r in on_gpu.history], [r.loss for r in on_cpu.history], rtol=1e-4, atol=0
    )
    torch.testing.assert_close(on_gpu.user_embeddings, on_cpu.user_embeddings, rtol=0, atol=1e-4)
    assert on_gpu.user_embeddings.device.type == "cpu"
    for name, value in on_cpu.valid_metrics.items():
        assert on_gpu.valid_metrics[name] == pytest.approx(value, abs=1e-3), name


def test_contrastive_noise_bytes_are_the_same_on_the_gpu() -> None:
    # int64 arithmetic wraps alike on both devices: the hash gives the same bytes.
    on_gpu = hashed_bytes(2**61 + 12345, 1_000_003, "cuda")
    assert on_gpu.device.type == "cuda"
    assert torch.equal(on_gpu.cpu(), hashed_bytes(2**61 + 12345, 1_000_003))
