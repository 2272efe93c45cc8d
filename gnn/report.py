"""Evaluation reports: overall, cold-start, long-tail and per-activity metrics, coverage,
learning curves.

:func:`build_report` returns a JSON-able dict; :func:`write_report` writes it as
``report.json`` with two PNG plots (matplotlib, Agg backend): ``learning_curves.png`` (loss
and validation metric per epoch, from the history stored in ``checkpoint.metrics``) and
``activity.png`` (metrics by user activity bucket).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gnn.data import TrainData
from gnn.evaluate import catalogue_coverage, per_user_metrics

#: Upper bounds of the activity buckets (training interactions per user); the last bucket is
#: open-ended.
DEFAULT_BUCKETS: tuple[int, ...] = (5, 10, 20, 50)
#: Test users with at most this many training interactions form the cold-start slice.
COLD_START_MAX: int = 20
#: The head of the catalogue: this share of the items, the most interacted-with in training;
#: the others are the long tail.
HEAD_SHARE: float = 0.2


def _mean(values: dict[str, Tensor], mask: Tensor) -> dict[str, float]:
    count = int(mask.sum())
    return {name: float(v[mask].sum()) / count if count else 0.0 for name, v in values.items()}


def long_tail_items(data: TrainData, head_share: float = HEAD_SHARE) -> Tensor:
    """Bool mask ``[num_items]`` of the long-tail items: all but the ``ceil(head_share *
    num_items)`` items with the most training interactions (ties: lower index first).

    Raises:
        ValueError: if ``head_share`` is not in [0, 1].
    """
    if not 0 <= head_share <= 1:
        raise ValueError(f"head_share must be in [0, 1], got {head_share}")
    counts = torch.bincount(data.train_item, minlength=data.num_items)
    order = torch.argsort(counts, descending=True, stable=True)
    tail = torch.ones(data.num_items, dtype=torch.bool)
    tail[order[: math.ceil(head_share * data.num_items)]] = False
    return tail


def _cold_start(
    data: TrainData, users: Tensor, values: dict[str, Tensor], cold_start_max: int
) -> dict[str, Any]:
    if cold_start_max < 0:
        raise ValueError(f"cold_start_max must be >= 0, got {cold_start_max}")
    cold = torch.bincount(data.train_user, minlength=data.num_users)[users] <= cold_start_max
    return {"max_train": cold_start_max, "users": int(cold.sum()), "metrics": _mean(values, cold)}


def _long_tail(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str,
    ks: Sequence[int],
    head_share: float,
    batch_size: int,
) -> dict[str, Any]:
    tail = long_tail_items(data, head_share)
    users, values = per_user_metrics(
        user_emb, item_emb, data, split, ks, batch_size=batch_size, only_items=tail
    )
    everyone = torch.ones(users.numel(), dtype=torch.bool)
    return {
        "head_share": head_share,
        "items": int(tail.sum()),
        "users": int(users.numel()),
        "metrics": _mean(values, everyone),
    }


def slices(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "test",
    ks: Sequence[int] = (10, 20),
    *,
    cold_start_max: int = COLD_START_MAX,
    head_share: float = HEAD_SHARE,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Metrics of the cold-start users and of the long-tail items on ``split``.

    Args:
        user_emb / item_emb / data / split / ks / batch_size: as in :func:`build_report`.
        cold_start_max: users with at most this many training interactions are cold-start.
        head_share: share of the items, the most popular in training, that are not long-tail
            (:func:`long_tail_items`).

    Returns:
        ``{"cold_start": {"max_train", "users", "metrics"}, "long_tail": {"head_share",
        "items", "users", "metrics"}}``: long-tail metrics count only long-tail items as
        relevant (every item is still ranked), over the users with a long-tail item in
        ``split``.

    Raises:
        ValueError: on an unknown split, a bad slice bound or mismatched shapes.
    """
    users, values = per_user_metrics(user_emb, item_emb, data, split, ks, batch_size=batch_size)
    return {
        "cold_start": _cold_start(data, users, values, cold_start_max),
        "long_tail": _long_tail(user_emb, item_emb, data, split, ks, head_share, batch_size),
    }


def build_report(
    user_emb: Tensor,
    item_emb: Tensor,
    data: TrainData,
    split: str = "test",
    ks: Sequence[int] = (10, 20),
    *,
    buckets: Sequence[int] = DEFAULT_BUCKETS,
    cold_start_max: int = COLD_START_MAX,
    head_share: float = HEAD_SHARE,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Evaluate embeddings on ``split`` overall, on the cold-start and long-tail slices
    (:func:`slices`) and per activity bucket.

    Args:
        user_emb: final user embeddings ``[num_users, d]``.
        item_emb: final item embeddings ``[num_items, d]``.
        data: the split.
        split: ``"valid"`` or ``"test"``.
        ks: cut-offs.
        buckets: increasing upper bounds of training interactions per bucket; users above
            the last bound form a final open bucket.
        cold_start_max: users with at most this many training interactions are cold-start.
        head_share: share of the items that are the popular head (:func:`long_tail_items`).
        batch_size: users scored per matmul.

    Returns:
        ``{"split", "users", "metrics", "coverage", "cold_start", "long_tail",
        "by_activity"}``: ``coverage`` maps ``"coverage@k"`` to the share of items
        recommended to someone, ``cold_start`` and ``long_tail`` are as in :func:`slices` and
        ``by_activity`` a list of ``{"bucket", "low", "high", "users", "metrics"}``
        (``high`` ``None`` = open).

    Raises:
        ValueError: on an unknown split, bad buckets or mismatched shapes.
    """
    if not buckets or any(b < 1 for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise ValueError(f"buckets must be increasing positive bounds, got {list(buckets)}")
    users, values = per_user_metrics(user_emb, item_emb, data, split, ks, batch_size=batch_size)
    cold_start = _cold_start(data, users, values, cold_start_max)
    activity = torch.bincount(data.train_user, minlength=data.num_users)[users]
    everyone = torch.ones(users.numel(), dtype=torch.bool)
    by_activity = []
    low = 0
    for high in [*buckets, None]:
        mask = activity >= low if high is None else (activity >= low) & (activity <= high)
        by_activity.append(
            {
                "bucket": f"{low}+" if high is None else f"{low}-{high}",
                "low": low,
                "high": high,
                "users": int(mask.sum()),
                "metrics": _mean(values, mask),
            }
        )
        low = (high or 0) + 1
    return {
        "split": split,
        "users": int(users.numel()),
        "metrics": _mean(values, everyone),
        "coverage": {
            f"coverage@{k}": catalogue_coverage(
                user_emb, item_emb, data, split, min(k, data.num_items), batch_size=batch_size
            )
            for k in ks
        },
        "cold_start": cold_start,
        "long_tail": _long_tail(user_emb, item_emb, data, split, ks, head_share, batch_size),
        "by_activity": by_activity,
    }


def _plot_learning_curves(history: list[dict[str, Any]], monitor: str, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    loss_ax, valid_ax = fig.subplots(1, 2)
    loss_ax.plot([r["epoch"] for r in history], [r["loss"] for r in history])
    loss_ax.set(xlabel="epoch", ylabel="training loss (BPR + L2)", title="loss")
    evaluated = [r for r in history if r.get("valid")]
    names = sorted(
        {monitor, "recall@10", "ndcg@10"} & set(evaluated[0]["valid"]) if evaluated else []
    )
    for name in names:
        valid_ax.plot(
            [r["epoch"] for r in evaluated], [r["valid"][name] for r in evaluated], label=name
        )
    valid_ax.set(xlabel="epoch", ylabel="validation", title="validation metrics")
    if names:
        valid_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_activity(report: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    rows = report["by_activity"]
    names = [m for m in ("recall@10", "ndcg@10") if m in report["metrics"]]
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    width = 0.8 / max(len(names), 1)
    for n, name in enumerate(names):
        ax.bar(
            [i + n * width for i in range(len(rows))],
            [r["metrics"][name] for r in rows],
            width=width,
            label=name,
        )
    ax.set_xticks(
        [i + width * (len(names) - 1) / 2 for i in range(len(rows))],
        [f"{r['bucket']}\n({r['users']} users)" for r in rows],
    )
    ax.set(xlabel="training interactions per user", title=f"{report['split']} metrics by activity")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(
    report: dict[str, Any],
    directory: str | os.PathLike[str],
    history: list[dict[str, Any]] | None = None,
    monitor: str = "ndcg@10",
) -> list[Path]:
    """Write ``report.json``, ``activity.png`` and, when ``history`` is non-empty,
    ``learning_curves.png`` (and the history inside the JSON) into ``directory``.

    Args:
        report: output of :func:`build_report` (extra JSON-able keys are kept).
        directory: created if missing.
        history: per-epoch dicts ``{"epoch", "loss", "train_seconds", "valid"}``, as stored
            by :func:`gnn.checkpoint.to_checkpoint` in ``checkpoint.metrics["history"]``.
        monitor: validation metric drawn with recall@10 and ndcg@10.

    Returns:
        The files written.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    payload = dict(report)
    if history:
        payload["history"] = history
        _plot_learning_curves(history, monitor, target / "learning_curves.png")
        written.append(target / "learning_curves.png")
    _plot_activity(report, target / "activity.png")
    written.append(target / "activity.png")
    (target / "report.json").write_text(json.dumps(payload, indent=2) + "\n")
    written.insert(0, target / "report.json")
    return written
