"""What the serve log and attribution cost (issue 23), each beside its baseline in one run.

1. **Response path**: a recommendation answer calls :meth:`ServeRecorder.record` (a ``uuid4``
   and a queue append) for 10 items; timed over ``--records`` calls against the baseline of
   the same loop building the item list only (``record_us``: the difference, microseconds).
2. **Background writes**: the queued serves written to a SQLite store in batches of 1,000
   (``serves_per_s``; the flusher's ceiling, off the response path).
3. **Events**: ``--batches`` batches of 10 clicks on served items, each validated and written
   as ``POST /events`` does (``validate_events`` + ``write_batch``: the baseline) and again
   (other clicks) with the attribution after it (``touches`` + ``attribute_in``: a read of
   each user's recent serves of the clicked items and an upsert), against a store holding
   ``--serves`` serves of ``--users`` users over the last 24 hours (``events_ms``,
   ``events_attributed_ms`` per batch and their ratio).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_log.py [--serves 100000]``. The last
line is ``RESULT record_us=... serves_per_s=... events_ms=... events_attributed_ms=...
attribution_ratio=...``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.schema import Item, User
from graph.serve_log import Serve
from graph.sqlite_store import SQLiteStore
from serving.attribution import ServeRecorder, attribute_in, touches
from serving.events import validate_events, write_batch

K = 10


def response_path(calls: int) -> float:
    """Microseconds ``record`` adds per call over building the item list."""
    items = [f"i{n}" for n in range(K)]
    recorder = ServeRecorder(lambda batch: None, max_pending=calls + 1)
    started = time.perf_counter()
    for _ in range(calls):
        list(items)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(calls):
        recorder.record(f"u{n % 1000}", "rec", list(items), model="m")
    recorded = time.perf_counter() - started
    return (recorded - baseline) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--serves", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(0)
    record_us = response_path(args.records)
    print(f"response path: record() adds {record_us:.2f} us per answer", flush=True)

    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "graph.sqlite3")
        store.upsert_users([User(f"u{n}") for n in range(args.users)])
        store.upsert_items([Item(f"i{n}") for n in range(args.items)])
        serves = [
            Serve(
                f"s{n:08d}",
                f"u{rng.randrange(args.users)}",
                now - rng.randrange(86_400),
                "rec",
                tuple(f"i{i}" for i in rng.sample(range(args.items), K)),
                "m",
            )
            for n in range(args.serves)
        ]
        started = time.perf_counter()
        for start in range(0, len(serves), 1000):
            store.record_serves(serves[start : start + 1000])
        serves_per_s = len(serves) / (time.perf_counter() - started)
        print(f"background writes: {serves_per_s:,.0f} serves/s", flush=True)

        def clicks(tag: int) -> list[list[dict[str, str | None]]]:
            picked = [rng.choice(serves) for _ in range(args.batches * 10)]
            rows: list[dict[str, str | None]] = [
                {"user_id": s.user_id, "item_id": rng.choice(s.items), "kind": "click",
                 "value": "1", "ts": str(now + tag)}
                for s in picked
            ]  # fmt: skip
            return [rows[n : n + 10] for n in range(0, len(rows), 10)]

        plain, attributed = clicks(1), clicks(2)
        started = time.perf_counter()
        for raw in plain:
            write_batch(store, validate_events(store, [], raw, now=now))
        events_ms = (time.perf_counter() - started) / len(plain) * 1e3
        found = 0
        started = time.perf_counter()
        for raw in attributed:
            batch = validate_events(store, [], raw, now=now)
            write_batch(store, batch)
            given = touches(raw, [None] * len(raw), batch.interactions, [], now=now)
            found += len(attribute_in(store, given, 86_400))
        attributed_ms = (time.perf_counter() - started) / len(attributed) * 1e3
        store.close()
    print(
        f"events: {events_ms:.2f} ms per batch of 10 without attribution, {attributed_ms:.2f} "
        f"ms with ({found} of {len(attributed) * 10} clicks attributed)",
        flush=True,
    )
    print(
        f"RESULT record_us={record_us:.2f} serves_per_s={serves_per_s:.0f} "
        f"events_ms={events_ms:.2f} events_attributed_ms={attributed_ms:.2f} "
        f"attribution_ratio={attributed_ms / events_ms:.2f}"
    )


if __name__ == "__main__":
    main()
