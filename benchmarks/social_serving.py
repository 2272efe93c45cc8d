"""Offline effect of the serving-time social rules on LastFM (issue 6).

Two experiments on the RecBole LastFM files (default ../shared/data/lastfm), each training
LightGCN with the repository's trainer (early stopping on validation NDCG@10):

1. **Social-proof boost** (:func:`serving.scoring.social_boost`): the usual per-user
   80/10/10 split; every test user's full ranking (train and valid items masked) is re-scored
   with ``score + beta * std(scores) * log1p(friends who interacted in training)`` for each
   ``beta``; NDCG@10 / Recall@10 on validation and test. ``beta = 0`` is plain LightGCN.
2. **Cold start through friends**: a random ``--cold-share`` of the users who have friends
   lose *all* their interactions before training (so the model never sees them); their
   interactions are the relevance set. Compared: ``popular`` (distinct training users per
   item) and ``social_cold_start`` (mean of friends' final embeddings plus the boost, as
   :meth:`serving.social.SocialRecommender.user_vector` serves it).

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/social_serving.py [--epochs 300]``. The
last line is ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray

from benchmarks.lastfm import DEFAULT_DATA, lastfm_snapshot
from gnn.data import TrainData
from gnn.metrics import ndcg_at_k, recall_at_k
from gnn.train import TrainConfig, train
from graph.snapshot import Snapshot
from serving.scoring import social_boost

K = 10
BETAS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)


def _matrix(
    users: NDArray[np.int64], items: NDArray[np.int64], shape: tuple[int, int]
) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=shape)
    m.data[:] = 1.0  # duplicates count once
    return m


def _metrics(
    scores: NDArray[np.float64], relevant: sp.csr_matrix, rows: NDArray[np.int64]
) -> tuple[float, float]:
    """Mean NDCG@K and Recall@K of ``scores`` (``[len(rows), items]``) against ``relevant``."""
    top = np.argpartition(-scores, K - 1, axis=1)[:, :K]
    order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, 1)
    rel = relevant[rows]
    hits = torch.from_numpy(np.asarray(rel[np.arange(len(rows))[:, None], top].todense()))
    num = torch.from_numpy(np.asarray(rel.sum(1)).ravel())
    return float(ndcg_at_k(hits, num, K).mean()), float(recall_at_k(hits, num, K).mean())


def _social(snapshot: Snapshot) -> sp.csr_matrix:
    n = snapshot.num_users
    return sp.csr_matrix(
        (np.ones(len(snapshot.social_src)), (snapshot.social_src, snapshot.social_dst)),
        shape=(n, n),
    )


def boost_experiment(snapshot: Snapshot, config: TrainConfig) -> dict[str, float]:
    data = TrainData.from_snapshot(snapshot, seed=config.seed)
    result = train(data, config)
    shape = (data.num_users, data.num_items)
    train_m = _matrix(data.train_user.numpy(), data.train_item.numpy(), shape)
    valid_m = _matrix(data.valid_user.numpy(), data.valid_item.numpy(), shape)
    test_m = _matrix(data.test_user.numpy(), data.test_item.numpy(), shape)
    counts_all = (_social(snapshot) @ train_m).tocsr()  # friends who interacted, in training
    user_emb = result.user_embeddings.double().numpy()
    item_emb = result.item_embeddings.double().numpy()
    out: dict[str, float] = {"best_epoch": float(result.best_epoch)}
    for split, relevant, masked in (
        ("valid", valid_m, train_m),
        ("test", test_m, train_m + valid_m),
    ):
        rows = np.flatnonzero(np.asarray(relevant.sum(1)).ravel() > 0)
        per_beta: dict[float, list[tuple[float, float, int]]] = {b: [] for b in BETAS}
        for start in range(0, len(rows), 256):
            batch = rows[start : start + 256]
            scores = user_emb[batch] @ item_emb.T
            mask = masked[batch].toarray() > 0
            scores[mask] = -np.inf
            counts = counts_all[batch].toarray()
            for beta in BETAS:
                boosted = np.stack(
                    [social_boost(scores[i], counts[i], beta) for i in range(len(batch))]
                )
                ndcg, recall = _metrics(boosted, relevant, batch)
                per_beta[beta].append((ndcg, recall, len(batch)))
        for beta, parts in per_beta.items():
            total = sum(n for _, _, n in parts)
            out[f"{split}_ndcg@10_beta{beta}"] = sum(v * n for v, _, n in parts) / total
            out[f"{split}_recall@10_beta{beta}"] = sum(v * n for _, v, n in parts) / total
    return out


def cold_start_experiment(
    snapshot: Snapshot, config: TrainConfig, share: float, beta: float
) -> dict[str, float]:
    rng = np.random.default_rng(config.seed)
    social = _social(snapshot)
    has_friends = np.flatnonzero(np.asarray(social.sum(1)).ravel() > 0)
    cold = np.sort(rng.choice(has_friends, size=round(share * len(has_friends)), replace=False))
    is_cold = np.isin(snapshot.inter_user, cold)
    data = TrainData.from_interactions(
        snapshot.inter_user[~is_cold],
        snapshot.inter_item[~is_cold],
        snapshot.num_users,
        snapshot.num_items,
        seed=config.seed,
    )
    result = train(data, config)
    shape = (snapshot.num_users, snapshot.num_items)
    train_m = _matrix(data.train_user.numpy(), data.train_item.numpy(), shape)
    relevant = _matrix(snapshot.inter_user[is_cold], snapshot.inter_item[is_cold], shape)
    active = np.asarray(train_m.sum(1)).ravel() > 0  # friends with training interactions
    counts = (social @ train_m).tocsr()
    user_emb = result.user_embeddings.double().numpy()
    item_emb = result.item_embeddings.double().numpy()
    popularity = np.log1p(np.asarray(train_m.sum(0)).ravel())
    served, pop_rows, social_rows = [], [], []
    for u in cold:
        friends = social[u].indices
        friends = friends[active[friends]]
        if len(friends) == 0:
            continue  # served "popular" in production too: not in the social slice
        vector = user_emb[friends].mean(0)
        scores = item_emb @ vector
        social_rows.append(social_boost(scores, counts[u].toarray().ravel(), beta))
        pop_rows.append(popularity)
        served.append(u)
    rows = np.array(served, dtype=np.int64)
    pop_ndcg, pop_recall = _metrics(np.stack(pop_rows), relevant, rows)
    soc_ndcg, soc_recall = _metrics(np.stack(social_rows), relevant, rows)
    return {
        "cold_users": float(len(rows)),
        "cold_popular_ndcg@10": pop_ndcg,
        "cold_popular_recall@10": pop_recall,
        "cold_social_ndcg@10": soc_ndcg,
        "cold_social_recall@10": soc_recall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--cold-share", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=0.1, help="Boost of the cold-start run.")
    args = parser.parse_args(argv)
    config = TrainConfig(epochs=args.epochs, seed=args.seed, eval_every=1, patience=20)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = lastfm_snapshot(args.data, Path(tmp))
    results = boost_experiment(snapshot, config)
    for split in ("valid", "test"):
        for beta in BETAS:
            print(
                f"{split} beta={beta:<5} ndcg@10 {results[f'{split}_ndcg@10_beta{beta}']:.4f} "
                f"recall@10 {results[f'{split}_recall@10_beta{beta}']:.4f}",
                flush=True,
            )
    cold = cold_start_experiment(snapshot, config, args.cold_share, args.beta)
    print(
        f"cold start ({cold['cold_users']:.0f} users): popular ndcg@10 "
        f"{cold['cold_popular_ndcg@10']:.4f} recall@10 {cold['cold_popular_recall@10']:.4f}; "
        f"social_cold_start ndcg@10 {cold['cold_social_ndcg@10']:.4f} recall@10 "
        f"{cold['cold_social_recall@10']:.4f}",
        flush=True,
    )
    results.update(cold)
    results["seconds"] = time.perf_counter() - started
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
