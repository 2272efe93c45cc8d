"""Locust users of ``benchmarks/serving_load.py``, which runs this file in its own process.

One user class per scenario (pass its name to ``locust``): ``BareUser`` (``GET /health``),
``RecUser`` (recommendations with explanations, ``k=10``), ``FeedUser`` (``POST
/api/v1/feed/rank`` with ``--feed-candidates`` candidates) and ``ReachUser`` (``POST
/api/v1/reach`` with ``--reach-simulations`` simulations). Ids come from ``--ids-file`` (JSON
with ``users``, ``items`` and ``reach_seeds``). ``--per-user-rate R`` paces each user at R
requests/s (``constant_throughput``: the rate is offered whatever the latency, up to R times
the user count); 0 is a closed loop (no wait).

Every request completed after all users are spawned is written to ``--latency-out`` as JSON
``{"requests": [[start_epoch_s, latency_ms, ok, name], ...], "failures": {reason: count},
"total_requests": n}`` (``n`` counts the warm-up too);
``--max-requests`` stops the run early.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

_state: dict[str, Any] = {
    "recording": False,
    "rows": [],
    "failures": Counter(),
    "ids": {},
    "total": 0,
}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--ids-file", required=True, help="JSON with users, items, reach_seeds.")
    parser.add_argument("--latency-out", required=True, help="Where the requests are written.")
    parser.add_argument("--per-user-rate", type=float, default=0.0, help="0: closed loop.")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--feed-candidates", type=int, default=50)
    parser.add_argument("--reach-simulations", type=int, default=1000)
    parser.add_argument("--reach-seeds", type=int, default=5)


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    assert options is not None, "run by locust's command line"
    _state["ids"] = json.loads(Path(options.ids_file).read_text(encoding="utf-8"))
    rate = options.per_user_rate
    wait = constant_throughput(rate) if rate > 0 else constant(0)
    for user_class in (BareUser, RecUser, FeedUser, ReachUser):
        user_class.wait_time = wait


@events.spawning_complete.add_listener
def _spawned(**_: Any) -> None:
    _state["recording"] = True


@events.request.add_listener
def _on_request(
    name: str,
    response_time: float,
    exception: BaseException | None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    _state["total"] += 1
    if not _state["recording"]:
        return
    rows: list[list[Any]] = _state["rows"]
    rows.append([start_time, response_time, exception is None, name])
    if exception is not None:
        _state["failures"][f"{name}: {type(exception).__name__}: {exception}"[:200]] += 1
    environment = _state.get("environment")
    if environment is not None and len(rows) >= environment.parsed_options.max_requests:
        environment.runner.quit()


@events.test_start.add_listener
def _started(environment: Environment, **_: Any) -> None:
    _state["environment"] = environment


@events.quitting.add_listener
def _write(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    assert options is not None, "run by locust's command line"
    out = Path(options.latency_out)
    out.write_text(
        json.dumps(
            {
                "requests": _state["rows"],
                "failures": dict(_state["failures"]),
                "total_requests": _state["total"],
            }
        ),
        encoding="utf-8",
    )


class _Base(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        self.rng = random.Random()
        self.ids: dict[str, list[str]] = _state["ids"]


class BareUser(_Base):
    """The ceiling: ``GET /health`` does no model work (see serving_load.py)."""

    @task
    def health(self) -> None:
        self.client.get("/health")


class RecUser(_Base):
    @task
    def recommendations(self) -> None:
        user = self.rng.choice(self.ids["users"])
        self.client.get(
            f"/api/v1/users/{user}/recommendations?k=10", name="/users/[id]/recommendations"
        )


class FeedUser(_Base):
    @task
    def feed(self) -> None:
        options = self.environment.parsed_options
        users, items = self.ids["users"], self.ids["items"]
        candidates = [
            {"item_id": item, "author_id": self.rng.choice(users), "post_id": f"post-{n}"}
            for n, item in enumerate(self.rng.sample(items, options.feed_candidates))
        ]
        body = {"user_id": self.rng.choice(users), "candidates": candidates}
        self.client.post("/api/v1/feed/rank", json=body)


class ReachUser(_Base):
    @task
    def reach(self) -> None:
        options = self.environment.parsed_options
        body = {
            "seeds": self.rng.sample(self.ids["reach_seeds"], options.reach_seeds),
            "simulations": options.reach_simulations,
            "seed": self.rng.randrange(2**32),
        }
        self.client.post("/api/v1/reach", json=body)
