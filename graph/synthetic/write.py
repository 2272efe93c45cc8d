"""Writing a synthetic world as an input directory, optionally with known corrupt rows."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from graph.schema import INTERACTION_KINDS
from graph.synthetic.arrays import CHUNK
from graph.synthetic.config import GenerateProgress
from graph.synthetic.truth import ground_truth_record, write_truth_tables
from graph.synthetic.world import World

#: The reasons :func:`write_world` corrupts rows for, with the tables each reason can hit.
CORRUPTION_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "unknown_user": ("friendships", "interactions"),
    "unknown_kind": ("friendships", "interactions"),
    "negative_price": ("items",),
    "bad_timestamp": ("users", "interactions"),
    "self_friendship": ("friendships",),
    "duplicate": ("users", "friendships", "interactions"),
}

_FAR_FUTURE_TS: Final[int] = 4_102_444_800  # 2100-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class WorldFiles:
    """What :func:`write_world` wrote: paths, clean rows per table and injected bad rows."""

    directory: Path
    tables: dict[str, Path]
    ground_truth: Path
    clean_rows: dict[str, int]
    corrupt_by_reason: dict[str, int]
    corrupt_by_table: dict[str, int]

    @property
    def corrupt_rows(self) -> int:
        return sum(self.corrupt_by_reason.values())


_HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "users": ("user_id", "region", "signup_ts"),
    "items": ("item_id", "category", "price", "in_stock"),
    "friendships": ("user_id", "friend_id", "kind"),
    "interactions": ("user_id", "item_id", "kind", "value", "ts"),
}

#: Rows of a table slice ``[lo, hi)`` as CSV lines. Generated ids, names and numbers never
#: need CSV quoting, so lines are formatted directly (about twice as fast as ``csv.writer``).
_Lines = Callable[[int, int], Iterator[str]]


def _table_lines(world: World) -> dict[str, tuple[int, _Lines]]:
    """Per table: (row count, function giving the CSV lines of a slice [lo, hi))."""
    uids, iids = world.user_ids, world.item_ids
    regions, categories = world.region_names, world.category_names
    kinds = INTERACTION_KINDS
    num_friends = int(world.friend_a.shape[0])
    social_a = np.concatenate((world.friend_a, world.follow_src))
    social_b = np.concatenate((world.friend_b, world.follow_dst))

    def users(lo: int, hi: int) -> Iterator[str]:
        region = world.user_region[lo:hi].tolist()
        signup = world.user_signup_ts[lo:hi].tolist()
        for uid, r, ts in zip(uids[lo:hi], region, signup, strict=True):
            yield f"{uid},{regions[r]},{ts}\n"

    def items(lo: int, hi: int) -> Iterator[str]:
        category = world.item_category[lo:hi].tolist()
        price = world.item_price[lo:hi].tolist()
        stock = world.item_in_stock[lo:hi].tolist()
        for iid, c, pr, st in zip(iids[lo:hi], category, price, stock, strict=True):
            yield f"{iid},{categories[c]},{pr:.2f},{'true' if st else 'false'}\n"

    def friendships(lo: int, hi: int) -> Iterator[str]:
        pairs = zip(social_a[lo:hi].tolist(), social_b[lo:hi].tolist(), strict=True)
        for j, (a, b) in enumerate(pairs, start=lo):
            yield f"{uids[a]},{uids[b]},{'friend' if j < num_friends else 'follow'}\n"

    def interactions(lo: int, hi: int) -> Iterator[str]:
        rows = zip(
            world.inter_user[lo:hi].tolist(),
            world.inter_item[lo:hi].tolist(),
            world.inter_kind[lo:hi].tolist(),
            world.inter_ts[lo:hi].tolist(),
            strict=True,
        )
        for u, i, k, ts in rows:
            yield f"{uids[u]},{iids[i]},{kinds[k]},1,{ts}\n"

    return {
        "users": (world.num_users, users),
        "items": (world.num_items, items),
        "friendships": (int(social_a.shape[0]), friendships),
        "interactions": (int(world.inter_kind.shape[0]), interactions),
    }


def _bad_row(
    reason: str,
    table: str,
    number: int,
    rng: np.random.Generator,
    world: World,
    rows: dict[str, tuple[int, _Lines]],
) -> tuple[int, Sequence[object]]:
    """One corrupt row for ``table`` and the clean row index it is inserted before."""
    count, make = rows[table]
    at = int(rng.integers(0, count + 1))
    uids, iids = world.user_ids, world.item_ids
    user = uids[int(rng.integers(world.num_users))]
    other = uids[int(rng.integers(world.num_users))]
    item = iids[int(rng.integers(world.num_items))]
    ts = world.config.start_ts + int(rng.integers(world.config.duration_s))
    ghost = f"ghost-{number}"
    if reason == "duplicate":
        source = int(rng.integers(count))
        line = next(make(source, source + 1))
        return int(rng.integers(source + 1, count + 1)), line.rstrip("\n").split(",")
    if reason == "negative_price":
        price = f"-{rng.uniform(0.01, 100):.2f}"
        return at, (f"bad-item-{number}", world.category_names[0], price, "true")
    if reason == "self_friendship":
        return at, (user, user, "friend" if number % 2 else "follow")
    if reason == "unknown_user":
        if table == "friendships":
            return at, (user, ghost, "friend")
        return at, (ghost, item, "view", "1", ts)
    if reason == "unknown_kind":
        if table == "friendships":
            return at, (user, other, "block")
        return at, (user, item, "wishlist", "1", ts)
    # bad_timestamp: unparseable, negative or absurdly far in the future.
    bad_ts = ("not-a-time", "-60", str(_FAR_FUTURE_TS))[int(rng.integers(3))]
    if table == "users":
        return at, (f"late-user-{number}", world.region_names[0], bad_ts)
    return at, (user, item, "purchase", "1", bad_ts)


def _write_table(
    path: Path,
    header: Sequence[str],
    count: int,
    make: _Lines,
    inserts: list[tuple[int, Sequence[object]]],
    progress: Callable[[int], None] | None,
) -> None:
    """Write ``count`` clean rows with each insert placed before the clean row of its index."""
    inserts = sorted(inserts, key=lambda pair: pair[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        lo, j = 0, 0
        while lo < count or j < len(inserts):
            while j < len(inserts) and inserts[j][0] <= lo:
                writer.writerow(inserts[j][1])
                j += 1
            if lo >= count:
                continue
            hi = min(count, lo + CHUNK // 8)
            if j < len(inserts):
                hi = min(hi, max(inserts[j][0], lo + 1))
            handle.writelines(make(lo, hi))
            if progress is not None:
                progress(hi - lo)
            lo = hi


def _corruption_plan(total: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(reason, table) of each of ``total`` bad rows, reasons spread evenly."""
    reasons = list(CORRUPTION_TABLES)
    plan = []
    for j in range(total):
        reason = reasons[j % len(reasons)]
        tables = CORRUPTION_TABLES[reason]
        plan.append((reason, tables[int(rng.integers(len(tables)))]))
    return plan


def write_world(
    world: World,
    directory: str | os.PathLike[str],
    *,
    corrupt_fraction: float = 0.0,
    seed: int | None = None,
    progress: GenerateProgress | None = None,
) -> WorldFiles:
    """Write ``world`` as an input directory (see :mod:`graph.readers`) plus ground truth.

    Files: ``users.csv``, ``items.csv``, ``friendships.csv``, ``interactions.csv``;
    ``ground_truth.json`` (config, stats, KOL ids, communities, influence model, corruption
    counts); ``ground_truth_users.csv`` (community, KOL flag, followers, attention degree,
    activation probability per user); ``ground_truth_items.csv`` (home community, appeal rank);
    ``ground_truth_purchases.csv`` (every purchase with its influencer, empty when organic).

    Args:
        world: The world to write.
        directory: Output directory (created; existing files of the same names are replaced).
        corrupt_fraction: Bad rows to inject, as a fraction of the clean table rows, in [0, 0.5].
            Reasons (unknown users and kinds, negative prices, bad timestamps, self-friendships,
            exact duplicates) are spread evenly; each bad row is rejected by
            :mod:`graph.validate` for exactly one reason, and the counts per reason and per
            table are in ``ground_truth.json`` under ``corruption``.
        seed: Seed for placing bad rows (default: the world's seed).
        progress: Called with (table, rows written).

    Raises:
        ValueError: if ``corrupt_fraction`` is outside [0, 0.5].
    """
    if not (isinstance(corrupt_fraction, int | float) and 0 <= corrupt_fraction <= 0.5):
        raise ValueError(f"corrupt_fraction must be in [0, 0.5], got {corrupt_fraction!r}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([world.config.seed if seed is None else seed, 0xC0DE])
    rows = _table_lines(world)
    clean = {table: count for table, (count, _) in rows.items()}
    bad_total = round(corrupt_fraction * sum(clean.values()))
    inserts: dict[str, list[tuple[int, Sequence[object]]]] = {t: [] for t in rows}
    by_reason = dict.fromkeys(CORRUPTION_TABLES, 0)
    by_table = dict.fromkeys(rows, 0)
    for number, (reason, table) in enumerate(_corruption_plan(bad_total, rng)):
        if clean[table] == 0 and reason == "duplicate":
            continue
        inserts[table].append(_bad_row(reason, table, number, rng, world, rows))
        by_reason[reason] += 1
        by_table[table] += 1

    paths: dict[str, Path] = {}
    for table, (count, make) in rows.items():
        paths[table] = root / f"{table}.csv"

        def advance(done: int, table: str = table) -> None:
            if progress is not None:
                progress(table, done)

        _write_table(paths[table], _HEADERS[table], count, make, inserts[table], advance)
    write_truth_tables(world, root)
    truth = root / "ground_truth.json"
    truth.write_text(
        json.dumps(
            ground_truth_record(world, by_reason, by_table, clean), indent=2, ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    return WorldFiles(root, paths, truth, clean, by_reason, by_table)
