"""Where a request's server CPU goes: the recommendations and feed routes profiled in process.

Loads the app of ``benchmarks/serving_load.py``'s Last.fm model (``--work``, default
``runs/bench``; run that benchmark once to build it) with its lifespan, then calls the ASGI
app directly (no sockets, no HTTP parsing: uvicorn's share is the difference between this
figure and serving_load's ``cpu ms``) with the same request pools: recommendations with
explanations, ``k=10``, random users with interactions; feed ranking of 50 random candidates.
Per route: ``--warmup`` unmeasured requests (the candidate stage of each user is computed on
first use), then ``--requests`` timed without a profiler (CPU ms per request, from
``time.process_time``), in ABBA blocks with the route's endpoint function called directly for
the same requests (recommendations and feed: the work without routing, middleware and
resolution; the rest of the request is the framework's), then the same requests under
cProfile. The stage table gives each stage's share of the profiled time (cumulative time of
the functions naming the stage) times the unprofiled CPU per request: cProfile's own overhead
is spread pro rata. The serve
log's background writer and the store thread it hands the SQLite inserts to run in threads
the profiler does not see: their CPU over the timed requests is a row of its own, measured
from the threads' CPU clocks, and only the rest is spread over the stages. Logging is configured as
``socialrec serve`` does (``--log-level``, default INFO: one JSON access-log line per request,
written to a temporary file).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving_profile.py [--requests 3000]

The last line is ``RESULT rec_cpu_ms=... feed_cpu_ms=... ceiling_cpu_ms=...`` (ASGI app CPU per
request; the ceiling is ``GET /ceiling`` through the same middleware, the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import anyio.to_thread
from fastapi import FastAPI

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.logging_config import configure_logging
from api.routes import feed, recommendations
from api.schemas.feed import FeedRankRequest
from benchmarks.serving_load import REPO, request_pools
from serving.settings import Settings

#: Name prefixes of the background threads that write the serve log: the flusher
#: (serving/attribution.py) and the store thread it hands the inserts to (serving/events.py).
WRITER_THREADS: Final[tuple[str, ...]] = ("socialrec-serve-log", "socialrec-store")
Message = dict[str, Any]
App = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

#: Stages of a request: name -> the (file suffix, function name) pairs whose cumulative time
#: is its cost. Indented names are inside the stage above them.
STAGES: Final[dict[str, list[tuple[str, str]]]] = {
    "routing (matching the path)": [("fastapi/routing.py", "_match")],
    "metrics and access log (api/observability.py)": [
        ("api/observability.py", "observe_request"),
        ("api/observability.py", "_request_id"),
        ("logging/__init__.py", "info"),
    ],
    "parameters and dependencies (FastAPI's, or one step)": [
        ("fastapi/dependencies/utils.py", "solve_dependencies"),
        ("api/one_step.py", "arguments"),
    ],
    "route function": [
        ("api/routes/recommendations.py", "get_recommendations"),
        ("api/routes/feed.py", "rank"),
    ],
    "  experiment arm": [("serving/experiment_serving.py", "arm")],
    "  recommend (serving/social.py)": [("serving/social.py", "recommend")],
    "    friend activity (serving/live.py)": [("serving/live.py", "friend_activity")],
    "    candidate stage scoring": [("serving/social.py", "_rank_staged")],
    "    similar-item reasons": [("serving/social.py", "_similar")],
    "  rank_feed (serving/feed.py)": [("serving/feed.py", "rank_feed")],
    "    item scores (social.scores)": [("serving/social.py", "scores")],
    "    author relations": [("serving/feed.py", "relations")],
    "    impression counts (SQLite)": [("serving/events.py", "counts")],
    "  serve log record": [("serving/attribution.py", "record")],
    "  response JSON": [
        ("pydantic/type_adapter.py", "dump_json"),
        ("pydantic/main.py", "__init__"),
    ],
    "response model validation + JSON (FastAPI)": [("fastapi/routing.py", "serialize_response")],
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--requests", type=int, default=3000, help="Timed requests per route.")
    parser.add_argument("--warmup", type=int, default=3000, help="Unmeasured, per route.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the sampled ids.")
    parser.add_argument("--feed-candidates", type=int, default=50)
    parser.add_argument("--top", type=int, default=25, help="Functions listed per route.")
    parser.add_argument(
        "--log-level", default="INFO", help="As the server's (INFO: an access-log line each)."
    )
    args = parser.parse_args(argv)
    args.reach_seeds, args.reach_simulations = 5, 1000  # request_pools builds reach bodies too
    return args


def _scope(entry: str) -> tuple[dict[str, Any], bytes]:
    """An ASGI HTTP scope and body for one ``METHOD PATH [BODY]`` pool entry."""
    method, rest = entry.split(" ", 1)
    path, _, body = rest.partition(" ")
    path, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1")]
    if body:
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    return scope, body.encode()


async def _call(app: App, scope: dict[str, Any], body: bytes) -> int:
    """One request through ``app``; its status code."""
    status = 0
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # no disconnect while the response is written
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def _run(app: App, requests: list[tuple[dict[str, Any], bytes]], count: int) -> None:
    for n in range(count):
        scope, body = requests[n % len(requests)]
        status = await _call(app, scope, body)
        if status != 200:
            raise SystemExit(f"{scope['method']} {scope['path']} answered {status}")


def stages(stats: pstats.Stats, per_request: float) -> list[tuple[str, float]]:
    """Each stage's CPU ms per request: its share of the profiled CPU time (all threads) times
    ``per_request`` (the unprofiled figure); the last row is the rest (the ASGI layers, request
    and response objects, sending the response, the threadpool hop)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    whole: float = stats.total_tt or 1.0  # type: ignore[attr-defined]
    rows = []
    for name, functions in STAGES.items():
        cumulative = sum(
            row[3]
            for (file, _, func), row in table.items()
            for suffix, wanted in functions
            if func == wanted and file.endswith(suffix)
        )
        rows.append((name, per_request * cumulative / whole))
    top = sum(ms for name, ms in rows if not name.startswith(" "))
    rows.append(("ASGI layers, sending, thread hop (rest)", per_request - top))
    return rows


def _threads_cpu_s(prefixes: tuple[str, ...]) -> float:
    """CPU seconds used so far by the live threads whose names start with ``prefixes``."""
    return sum(
        time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        for thread in threading.enumerate()
        if thread.name.startswith(prefixes) and thread.ident is not None
    )


def endpoint_call(app: FastAPI, entry: str) -> Callable[[], Awaitable[object]] | None:
    """The route's endpoint function itself called for pool ``entry``, with the arguments the
    framework would pass (no routing, middleware or resolution); ``None`` for other routes."""
    _, rest = entry.split(" ", 1)
    path, _, body = rest.partition(" ")
    path, _, query = path.partition("?")
    state, experiments = app.state.holder.state, app.state.experiments
    if path.endswith("/recommendations"):
        user, k = unquote(path.split("/")[4]), int(dict(parse_qsl(query)).get("k", 10))
        return lambda: recommendations.get_recommendations(user, state, experiments, k=k)
    if path.endswith("/feed/rank"):
        request = FeedRankRequest.model_validate_json(body)

        async def rank() -> object:
            return feed.rank(request, state, experiments, app.state.settings)

        return rank
    return None


async def _calls(calls: list[Callable[[], Awaitable[object]]], count: int) -> None:
    for n in range(count):
        await calls[n % len(calls)]()


async def _timed(run: Awaitable[None]) -> tuple[float, float]:
    """CPU seconds of awaiting ``run``: the process's, and the background writer threads'."""
    writer = _threads_cpu_s(WRITER_THREADS)
    started = time.process_time()
    await run
    return time.process_time() - started, _threads_cpu_s(WRITER_THREADS) - writer


async def profile_route(app: App, name: str, entries: list[str], args: argparse.Namespace) -> float:
    """Warm up, time, then profile ``entries``; prints the tables; returns CPU ms/request."""
    requests = [_scope(e) for e in entries]
    await _run(app, requests, args.warmup)
    # The app, and the endpoint called directly (where there is one), in ABBA blocks.
    found = [endpoint_call(app, e) for e in entries]  # type: ignore[arg-type]
    direct = [c for c in found if c is not None] if None not in found else []
    half = max(args.requests // 2, 1)
    cpu = {"app": [0.0, 0.0], "alone": [0.0, 0.0]}
    for kind in ("app", "alone", "alone", "app") if direct else ("app", "app"):
        run = _run(app, requests, half) if kind == "app" else _calls(direct, half)
        process, writers = await _timed(run)
        cpu[kind][0] += process
        cpu[kind][1] += writers
    cpu_ms, writer_ms = (1000 * x / (2 * half) for x in cpu["app"])
    alone_ms, alone_writer_ms = (1000 * x / (2 * half) for x in cpu["alone"])
    # CPU time per thread: sync routes run in the threadpool's (reused) worker thread, which
    # gets its own profiler; wall time would count the event loop's wait for it.
    main, worker = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
    await anyio.to_thread.run_sync(worker.enable)
    main.enable()
    await _run(app, requests, args.requests)
    main.disable()
    await anyio.to_thread.run_sync(worker.disable)
    stats = pstats.Stats(main).add(worker)
    print(f"\n== {name}: {cpu_ms:.3f} ms CPU per request (ASGI app, no profiler)")
    print(f"{'stage':<52} {'ms/request':>10}")
    for stage, ms in [
        *stages(stats, cpu_ms - writer_ms),
        ("serve log writer and store thread (background)", writer_ms),
    ]:
        if ms > 0.0005:
            print(f"{stage:<52} {ms:>10.3f}")
    # cProfile slows Python-heavy code (framework) more than numpy-heavy code (the model), so
    # shares over-state the framework; the endpoint called directly gives the split unprofiled.
    if direct:
        endpoint = alone_ms - alone_writer_ms
        print(f"{'endpoint alone (called directly, unprofiled)':<52} {endpoint:>10.3f}")
        framework = cpu_ms - writer_ms - endpoint
        print(f"{'framework (all - endpoint - background threads)':<52} {framework:>10.3f}")
    print(f"-- top {args.top} functions by own time (profiled, {args.requests} requests)")
    stats.sort_stats("tottime").print_stats(args.top)
    return cpu_ms


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    work = args.work / "lastfm"
    if not (work / "snapshot" / "meta.json").is_file():
        raise SystemExit(f"{work}: no model; run benchmarks/serving_load.py once to build it")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg, unused-ignore]
        work_dir=work,
        store="sqlite",
        serving_threads=1,
        feed_authors_require_key=False,
        log_level=args.log_level,
    )
    pools = request_pools(work, args)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        figures = {
            "ceiling_cpu_ms": await profile_route(app, "ceiling", pools["ceiling"], args),
            "rec_cpu_ms": await profile_route(app, "recommendations", pools["rec"], args),
            "feed_cpu_ms": await profile_route(app, "feed", pools["feed"], args),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        configure_logging(args.log_level, stream=log)  # as `socialrec serve` configures it
        figures = asyncio.run(main_async(args))
    print(json.dumps(figures))
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
