"""Serving under load: the real API (uvicorn, one worker) driven by wrk from a second process.

Builds, or reuses from ``--work`` (default ``runs/bench``), a served model with the project's
CLI: LastFM (``socialrec load --format lastfm`` of ../shared/data/lastfm/hetrec2011 ->
``export`` -> ``train``) or, with ``--synthetic``, a 100,000-user world (``socialrec demo
--no-serve``). It then starts ``socialrec serve`` on a free loopback port (one uvicorn
worker, ``SOCIALREC_SERVING_THREADS=1``, ``OMP_NUM_THREADS=1``) and runs, each as one wrk
process (one thread; Debian package ``wrk``) bounded in time (``--duration``) and responses
(``--max-requests``), with requests drawn at random from pools sampled from the snapshot:

==============  ================================================  ==========================
scenario        requests                                          load
==============  ================================================  ==========================
ceiling         ``GET /ceiling``: an ``async`` route returning a     closed loop (max rps)
                constant small JSON (not in the OpenAPI docs),
                the app's true ceiling
bare            ``GET /health``: no model work, but a sync route  closed loop (max rps)
                with response validation and a store probe
rec_max         recommendations with explanations, ``k=10``,    closed loop (max rps)
                random users with interactions
rec_rate        the same                                          ``--rate`` offered (300/s)
rec_reload      the same, with ``--reloads`` ``POST                ``--rate`` offered
                /api/v1/admin/reload`` during the run
feed            ``POST /api/v1/feed/rank``, 50 random candidates  ``--feed-rate`` offered
reach           ``POST /api/v1/reach``, 1,000 simulations, 5      ``--reach-rate`` offered
                random seeds with friends
experiments_on  recommendations as ``rec_max`` on two more        closed loop, ABBA blocks
experiments_off servers: serve log on and an active experiment
                of two variants, vs serve log off and none
==============  ================================================  ==========================

wrk is C and uses little CPU, so on a 2-core machine the server keeps its core (a Python load
generator took as much CPU as the server and added its own scheduling delays to every
latency). Closed loops run after ``--warmup`` unmeasured seconds. Offered rates are paced:
each of the connections waits an exponential think time (mean ``connections / rate``) after
each response, so the offered rate holds while latency is far below the think time (the
achieved rate is reported). Latencies are wrk's, per request. The ``ceiling`` is the same app's
constant route, through the same middleware; ``bare`` is ``/health``: it reads the loaded state
and a cached store probe (at most one ``SELECT 1`` every 2 s) in the threadpool (the probe may
block), so it is slower than the ceiling and kept only for comparison with older runs.
``--candidates 0`` turns the server's candidate stage off (every recommendation scores the
whole catalogue).

Run (one command; Ctrl-C stops the server and wrk)::

    .venv/bin/python benchmarks/serving_load.py [--synthetic] [--duration 20]

The last line is ``RESULT rec_p99_ms=... rec_rps=... ceiling_rps=... ratio_ceiling=...
bare_rps=... ratio=... errors=... feed_p99_ms=... reach_p99_ms=... reloads=...
reload_errors=...``: ``rec_p99_ms`` at the offered ``--rate``, ``rec_rps``, ``ceiling_rps`` and
``bare_rps`` the closed-loop maxima, ``ratio_ceiling = rec_rps / ceiling_rps`` (the headline),
``ratio = rec_rps / bare_rps``, ``errors`` the failed requests (connect, read, write, timeout,
non-2xx) of every scenario but ``rec_reload``, whose failed requests plus failed reloads are
``reload_errors``; then ``rec_rps_experiments_on=... rec_rps_experiments_off=...
experiments_overhead=... experiments_cpu_overhead=...``: the two servers of the experiments
scenario (``--experiment-blocks`` pairs of ``--experiment-block-s`` s, off and on in ABBA
order so that drifting load hits both alike; ``--experiment-blocks 0`` skips it), the
fractional loss ``1 - on / off`` of closed-loop req/s and the same from server CPU per
request (``1 - cpu_off / cpu_on``, less sensitive to other load). Targets (issue 24, 2 cores,
one worker, one torch thread): recommendations >= 1,000 req/s closed loop and >= 0.5 of the
ceiling, p99 <= 10 ms at 300 req/s offered, 0 errors; feed p99 <= 15 ms at 100 req/s; issue
23: ``experiments_overhead <= 0.10``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from graph.snapshot import read_snapshot
from serving.experiments import EXPERIMENTS_FILE, Experiment, ExperimentRegistry, Variant
from tests.server_process import ServerStartError, server_process

REPO: Final[Path] = Path(__file__).resolve().parents[1]
DEFAULT_DATA: Final[Path] = REPO.parent / "shared" / "data" / "lastfm"
WRK: Final[str] = "wrk"
SYNTHETIC_USERS: Final[int] = 100_000
#: Catalogue size of the synthetic world: the demo's ratio (5,000 users, 2,000 items).
SYNTHETIC_ITEMS: Final[int] = 40_000
TARGET_P99_MS: Final[float] = 10.0
TARGET_FEED_P99_MS: Final[float] = 15.0
TARGET_RPS: Final[float] = 1_000.0
TARGET_RATIO: Final[float] = 0.5
#: Issue 23: recommendations throughput with experiments and the serve log on, at most this
#: fraction lower than with both off.
TARGET_EXPERIMENTS_OVERHEAD: Final[float] = 0.10


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**values: str) -> dict[str, str]:
    """The environment without inherited ``SOCIALREC_*`` settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALREC_")}
    return env | values


def _cli(args: list[str], env: dict[str, str], log: Path) -> None:
    """Run ``socialrec ARGS``, appending its output to ``log``; exit with its tail on failure."""
    print(f"  socialrec {' '.join(args)}", flush=True)
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "socialrec.cli", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"socialrec {args[0]} failed ({done.returncode}); {log}:\n{tail}")


def ensure_model(args: argparse.Namespace) -> Path:
    """The work directory of the served model (snapshot/, model.pt, graph.sqlite3), built with
    the CLI unless a previous run left it there (``--rebuild`` builds it again)."""
    name = f"synthetic-{SYNTHETIC_USERS}" if args.synthetic else "lastfm"
    work: Path = args.work / name
    ready = (work / "snapshot" / "meta.json").is_file() and (work / "model.pt").is_file()
    if ready and not args.rebuild:
        print(f"model: reusing {work}", flush=True)
        return work
    work.mkdir(parents=True, exist_ok=True)
    (work / "graph.sqlite3").unlink(missing_ok=True)
    log = work / "build.log"
    env = _clean_env(
        SOCIALREC_WORK_DIR=str(work), SOCIALREC_STORE="sqlite", OMP_NUM_THREADS=str(args.threads)
    )
    started = time.perf_counter()
    print(f"model: building {work} (log {log})", flush=True)
    if args.synthetic:
        _cli(
            [
                "demo",
                "--users",
                str(SYNTHETIC_USERS),
                "--items",
                str(SYNTHETIC_ITEMS),
                "--epochs",
                str(args.epochs or 1),
                "--no-serve",
            ],
            env,
            log,
        )
    else:
        hetrec = args.data / "hetrec2011"
        if not (hetrec / "user_artists.dat").is_file():
            raise SystemExit(f"{hetrec}/user_artists.dat not found: pass --data (see its README)")
        _cli(["load", str(hetrec), "--format", "lastfm"], env, log)
        _cli(["export"], env, log)
        epochs = str(args.epochs or 20)
        _cli(["train", "--epochs", epochs, "--threads", str(args.threads)], env, log)
    print(f"model: built in {time.perf_counter() - started:.0f} s", flush=True)
    return work


def request_pools(work: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """Per scenario, a pool of requests wrk picks from at random (``METHOD PATH [BODY]``
    serialised as the Lua table entries of :func:`wrk_script`), sampled from the snapshot with
    ``args.seed``: users with history, items, accounts with followers as reach seeds."""
    snapshot = read_snapshot(work / "snapshot")
    rng = np.random.default_rng(args.seed)
    users = [snapshot.user_ids[int(u)] for u in np.unique(snapshot.inter_user)]
    items = list(snapshot.item_ids)
    seeds = [snapshot.user_ids[int(u)] for u in np.unique(snapshot.social_src)]

    def pick(names: list[str], size: int) -> list[str]:
        return [names[int(i)] for i in rng.choice(len(names), size=size, replace=False)]

    def feed_body() -> str:
        candidates = [
            {"item_id": item, "author_id": users[int(rng.integers(len(users)))], "post_id": f"p{n}"}
            for n, item in enumerate(pick(items, args.feed_candidates))
        ]
        return json.dumps(
            {"user_id": users[int(rng.integers(len(users)))], "candidates": candidates}
        )

    def reach_body() -> str:
        return json.dumps(
            {
                "seeds": pick(seeds, args.reach_seeds),
                "simulations": args.reach_simulations,
                "seed": int(rng.integers(2**32)),
            }
        )

    return {
        "ceiling": ["GET /ceiling"],
        "bare": ["GET /health"],
        "rec": [f"GET /api/v1/users/{quote(u, safe='')}/recommendations?k=10" for u in users],
        "feed": [f"POST /api/v1/feed/rank {feed_body()}" for _ in range(200)],
        "reach": [f"POST /api/v1/reach {reach_body()}" for _ in range(100)],
    }


def wrk_script(requests: list[str], think_ms: float | None, seed: int, max_requests: int) -> str:
    """A wrk Lua script: each request picked at random from ``requests``; with ``think_ms``
    each connection waits an exponential time of that mean before its next request (a paced
    load); the run stops after ``max_requests`` responses (or wrk's ``-d``); ``done`` prints
    the figures as one ``WRK {json}`` line."""
    entries = ",\n".join(f"[==[{r}]==]" for r in requests)
    pace = (
        f"delay = function() return -{think_ms:.3f} * math.log(1 - math.random()) end\n"
        if think_ms
        else ""
    )
    return f"""math.randomseed({seed})
local pool = {{
{entries}
}}
{pace}local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered >= {max_requests} then wrk.thread:stop() end
end
request = function()
  local entry = pool[math.random(#pool)]
  local method, rest = entry:match("^(%u+) (.*)$")
  local path, body = rest:match("^(%S+) (.*)$")
  if path == nil then path = rest end
  local headers = {{}}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if body ~= nil then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


@contextmanager
def api_server(
    work: Path,
    api_key: str,
    log: Path,
    candidates: int | None = None,
    timeout_s: float = 180,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """``socialrec serve`` on a free loopback port until the block ends; yields its base URL
    and process id. ``candidates`` sets ``SOCIALREC_CANDIDATES`` (``None``: the default);
    ``env`` adds settings (e.g. ``SOCIALREC_SERVE_LOG``)."""
    port = _free_port()
    extra = env or {}
    env = _clean_env(
        SOCIALREC_WORK_DIR=str(work),
        SOCIALREC_STORE="sqlite",
        SOCIALREC_API_KEY=api_key,
        SOCIALREC_SERVING_THREADS="1",
        OMP_NUM_THREADS="1",
        SOCIALREC_FEED_AUTHORS_REQUIRE_KEY="false",  # wrk sends no key; this measures ranking
    )
    if candidates is not None:
        env["SOCIALREC_CANDIDATES"] = str(candidates)
    env |= extra
    argv = [
        *(sys.executable, "-m", "socialrec.cli", "serve"),
        *("--host", "127.0.0.1", "--port", str(port), "--threads", "1"),
    ]
    try:
        with server_process(argv, port, env, timeout_s, log=log) as server:
            yield server.base, server.pid
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Measurement:
    """One scenario's requests: counts, throughput over the measured window, latencies (ms)."""

    scenario: str
    users: int
    offered_rps: float | None
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failures: dict[str, int]
    #: Server CPU time (user + system) per request over the whole run, warm-up included: less
    #: sensitive than rps to other work on the machine.
    server_cpu_ms: float = float("nan")

    @classmethod
    def from_wrk(
        cls, scenario: str, connections: int, offered_rps: float | None, out: str, cpu_s: float
    ) -> Measurement:
        """From the ``WRK {json}`` line of :func:`wrk_script` in wrk's output ``out``."""
        line = next((x for x in out.splitlines() if x.startswith("WRK ")), None)
        if line is None:
            raise SystemExit(f"{scenario}: wrk printed no figures:\n{out[-2000:]}")
        data = json.loads(line[4:])
        total = int(data["requests"])
        errors = {k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout")}
        return cls(
            scenario=scenario,
            users=connections,
            offered_rps=offered_rps,
            requests=total,
            errors=sum(errors.values()),
            rps=total / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p95_ms=data["p95_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            failures={k: v for k, v in errors.items() if v},
            server_cpu_ms=1000 * cpu_s / total if total else float("nan"),
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    scenario: str,
    requests: list[str],
    base: str,
    server_pid: int,
    *,
    connections: int,
    rate: float | None,
    args: argparse.Namespace,
    out_dir: Path,
    duration: int | None = None,
) -> Measurement:
    """One wrk run (one thread) over ``connections`` for ``duration`` s (default
    ``args.duration``): a closed loop when ``rate`` is ``None``, else paced so that
    ``connections`` connections offer ``rate`` requests/s in all."""
    think_ms = None if rate is None else 1000 * connections / rate
    script = out_dir / f"{scenario}.lua"
    script.write_text(
        wrk_script(requests, think_ms, args.seed, args.max_requests), encoding="utf-8"
    )
    command = [
        WRK,
        *("-t", "1", "-c", str(connections), "-d", f"{duration or args.duration}s"),
        *("--timeout", "10s", "-s", str(script), base),
    ]
    if shutil.which(WRK) is None:
        raise SystemExit("wrk not found: install it (Debian/Ubuntu: apt-get install wrk)")
    cpu_before = cpu_seconds(server_pid)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60, check=False
    )
    (out_dir / f"{scenario}.wrk.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"wrk {scenario} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu_s = cpu_seconds(server_pid) - cpu_before
    return Measurement.from_wrk(scenario, connections, rate, done.stdout, cpu_s)


@dataclass
class Reloads:
    """``POST /api/v1/admin/reload`` ``count`` times, ``spacing_s`` apart after ``delay_s``,
    on a thread; ``results`` holds each status code (or the transport error's name)."""

    base: str
    api_key: str
    count: int
    delay_s: float
    spacing_s: float
    results: list[int | str]
    seconds: list[float]

    def run(self) -> None:
        time.sleep(self.delay_s)
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.api_key}) as http:
            for n in range(self.count):
                started = time.perf_counter()
                try:
                    self.results.append(http.post("/api/v1/admin/reload", timeout=120).status_code)
                except httpx.TransportError as exc:
                    self.results.append(type(exc).__name__)
                self.seconds.append(time.perf_counter() - started)
                if n + 1 < self.count:
                    time.sleep(self.spacing_s)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r != 200) + self.count - len(self.results)


@dataclass(frozen=True, slots=True)
class OnOff:
    """Closed-loop recommendations, experiments and serve log on vs off, summed over blocks."""

    rps_on: float
    rps_off: float
    cpu_ms_on: float
    cpu_ms_off: float
    errors: int

    @property
    def overhead(self) -> float:
        """Fractional loss of closed-loop throughput: ``1 - rps_on / rps_off``."""
        return 1 - self.rps_on / self.rps_off

    @property
    def cpu_overhead(self) -> float:
        """Fractional loss of the server's maximum throughput, from CPU per request (less
        sensitive to other load): ``1 - cpu_ms_off / cpu_ms_on``."""
        return 1 - self.cpu_ms_off / self.cpu_ms_on


def experiments_on_off(
    work: Path, requests: list[str], api_key: str, run_dir: Path, args: argparse.Namespace
) -> OnOff:
    """Two servers on ``work``'s model side by side: *off* (serve log off, no experiment) and
    *on* (serve log on, an active experiment of two halves, the second with another social
    boost); ``--experiment-blocks`` pairs of closed-loop wrk blocks alternate in ABBA order
    so that drifting load on the machine hits both alike."""
    model = {
        "SOCIALREC_SQLITE_PATH": str(work / "graph.sqlite3"),
        "SOCIALREC_SNAPSHOT_DIR": str(work / "snapshot"),
        "SOCIALREC_CHECKPOINT_PATH": str(work / "model.pt"),
        "SOCIALREC_REACH_DIR": str(work / "reach"),
    }
    dirs = {name: run_dir / f"experiments-{name}" for name in ("off", "on")}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
        (path / EXPERIMENTS_FILE).unlink(missing_ok=True)
    ExperimentRegistry(dirs["on"] / EXPERIMENTS_FILE).create(
        Experiment(
            "bench",
            (Variant("control", 0.5), Variant("boost", 0.5, social_boost=0.3)),
            salt=f"bench-{time.time_ns()}",
        )
    )
    settings = {"off": model | {"SOCIALREC_SERVE_LOG": "false"}, "on": model}
    totals = {name: [0.0, 0.0, 0.0] for name in dirs}  # requests, seconds, cpu ms x requests
    errors = 0
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                api_server(path, api_key, path / "server.log", args.candidates, env=settings[name])
            )
            for name, path in dirs.items()
        }
        answer = httpx.get(servers["on"][0] + requests[0].split(" ", 1)[1], timeout=30).json()
        if answer.get("variant") not in ("control", "boost"):
            raise SystemExit(f"the 'on' server serves no experiment: {answer}")

        def block(name: str, label: str, seconds: int) -> Measurement:
            base, pid = servers[name]
            return run_wrk(
                label,
                requests,
                base,
                pid,
                connections=args.closed_connections,
                rate=None,
                args=args,
                out_dir=run_dir,
                duration=seconds,
            )

        for name in dirs:  # the candidate stages of both, not measured
            block(name, f"experiments_{name}_warmup", max(args.warmup, 1))
        for pair in range(args.experiment_blocks):
            for name in ("off", "on") if pair % 2 == 0 else ("on", "off"):
                m = block(name, f"experiments_{name}", args.experiment_block_s)
                total = totals[name]
                total[0] += m.requests
                total[1] += m.requests / m.rps if m.rps else args.experiment_block_s
                total[2] += m.server_cpu_ms * m.requests if m.requests else 0.0
                errors += m.errors
    rps = {name: t[0] / t[1] for name, t in totals.items()}
    cpu = {name: t[2] / t[0] if t[0] else float("nan") for name, t in totals.items()}
    return OnOff(rps["on"], rps["off"], cpu["on"], cpu["off"], errors)


def _row(m: Measurement) -> str:
    offered = "closed" if m.offered_rps is None else f"{m.offered_rps:g}/s"
    return (
        f"{m.scenario:<11} {offered:>8} {m.users:>5} {m.requests:>8} {m.rps:>9.1f} "
        f"{m.p50_ms:>8.2f} {m.p95_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>6} "
        f"{m.server_cpu_ms:>8.2f}"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--synthetic", action="store_true", help="100k-user synthetic world.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LastFM directory.")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--rebuild", action="store_true", help="Build the model again.")
    parser.add_argument("--epochs", type=int, default=None, help="[LastFM 20, synthetic 1]")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while building.")
    parser.add_argument("--duration", type=int, default=20, help="Seconds per scenario.")
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="Unmeasured seconds before each closed loop (0: none); the first request of "
        "each user computes their candidate stage.",
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="Per scenario.")
    parser.add_argument("--closed-connections", type=int, default=16, help="Closed loop.")
    parser.add_argument("--rate", type=float, default=300.0, help="Offered recommendations/s.")
    parser.add_argument(
        "--rate-connections", type=int, default=30, help="Connections offering --rate."
    )
    parser.add_argument("--feed-rate", type=float, default=100.0)
    parser.add_argument("--feed-candidates", type=int, default=50)
    parser.add_argument("--reach-rate", type=float, default=2.0)
    parser.add_argument("--reach-simulations", type=int, default=1000)
    parser.add_argument("--reach-seeds", type=int, default=5, help="Seeds per reach request.")
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the sampled ids.")
    parser.add_argument(
        "--experiment-blocks",
        type=int,
        default=4,
        help="Pairs of closed-loop blocks, experiments off and on, in ABBA order (0: skip).",
    )
    parser.add_argument("--experiment-block-s", type=int, default=5, help="Seconds per block.")
    parser.add_argument(
        "--candidates",
        type=int,
        default=None,
        help="Server's SOCIALREC_CANDIDATES (0: score the whole catalogue on every request).",
    )
    args = parser.parse_args(argv)
    if args.experiment_blocks < 0 or args.experiment_block_s < 1:
        parser.error("--experiment-blocks must be >= 0 and --experiment-block-s >= 1")
    for name in ("duration", "closed_connections", "rate_connections", "reloads", "max_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.duration < 8:
        parser.error(f"--duration must be >= 8 s (reloads need room), got {args.duration}")
    return args


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _stop_on_sigterm()  # `timeout` or a CI runner: clean up like Ctrl-C
    work = ensure_model(args)
    run_dir = work / "load"
    run_dir.mkdir(exist_ok=True)
    pools = request_pools(work, args)
    print(f"requests: {', '.join(f'{k} {len(v)}' for k, v in pools.items())}; logs in {run_dir}")
    api_key = secrets.token_hex(16)
    results: list[Measurement] = []
    with api_server(work, api_key, run_dir / "server.log", args.candidates) as (base, pid):
        print(f"server: {base} (1 uvicorn worker, 1 torch thread)", flush=True)

        def run(scenario: str, pool: str, connections: int, rate: float | None) -> Measurement:
            if rate is None and args.warmup > 0:  # closed loops start warm (not measured)
                run_wrk(
                    f"{scenario}_warmup",
                    pools[pool],
                    base,
                    pid,
                    connections=connections,
                    rate=None,
                    args=args,
                    out_dir=run_dir,
                    duration=args.warmup,
                )
            measured = run_wrk(
                scenario,
                pools[pool],
                base,
                pid,
                connections=connections,
                rate=rate,
                args=args,
                out_dir=run_dir,
            )
            print(_row(measured), flush=True)
            results.append(measured)
            return measured

        print(
            f"{'scenario':<11} {'offered':>8} {'conns':>5} {'requests':>8} {'req/s':>9} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'cpu ms':>8}",
            flush=True,
        )
        ceiling = run("ceiling", "ceiling", args.closed_connections, None)
        bare = run("bare", "bare", args.closed_connections, None)
        rec_max = run("rec_max", "rec", args.closed_connections, None)
        rec_rate = run("rec_rate", "rec", args.rate_connections, args.rate)
        spacing = (args.duration - 6) / max(args.reloads - 1, 1)
        reloads = Reloads(base, api_key, args.reloads, 3.0, spacing, [], [])
        thread = threading.Thread(target=reloads.run, daemon=True)
        thread.start()
        rec_reload = run("rec_reload", "rec", args.rate_connections, args.rate)
        thread.join(timeout=300)
        feed = run("feed", "feed", max(2, round(args.feed_rate / 5)), args.feed_rate)
        reach = run("reach", "reach", max(1, round(args.reach_rate)), args.reach_rate)
    on_off = None
    if args.experiment_blocks:
        on_off = experiments_on_off(work, pools["rec"], api_key, run_dir, args)
        print(
            f"experiments on vs off ({args.experiment_blocks} ABBA block pairs of "
            f"{args.experiment_block_s} s): on {on_off.rps_on:.1f} req/s, "
            f"{on_off.cpu_ms_on:.3f} ms server CPU/request; off {on_off.rps_off:.1f} req/s, "
            f"{on_off.cpu_ms_off:.3f} ms; overhead {on_off.overhead:.3f} (closed loop), "
            f"{on_off.cpu_overhead:.3f} (CPU per request)",
            flush=True,
        )

    for m in results:
        for reason, count in sorted(m.failures.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {m.scenario} failure x{count}: {reason}")
    print(
        f"reloads: {reloads.results} in {', '.join(f'{s:.2f}' for s in reloads.seconds)} s",
        flush=True,
    )
    ratio = rec_max.rps / bare.rps
    ratio_ceiling = rec_max.rps / ceiling.rps
    errors = sum(m.errors for m in (ceiling, bare, rec_max, rec_rate, feed, reach))
    errors += 0 if on_off is None else on_off.errors
    reload_errors = rec_reload.errors + reloads.failed

    def verdict(ok: bool) -> str:
        return "meets" if ok else "misses"

    print(
        f"targets: rec {rec_max.rps:.0f} req/s ({verdict(rec_max.rps >= TARGET_RPS)} >= "
        f"{TARGET_RPS:g}); ratio_ceiling {ratio_ceiling:.2f} "
        f"({verdict(ratio_ceiling >= TARGET_RATIO)} >= {TARGET_RATIO}); rec p99 "
        f"{rec_rate.p99_ms:.2f} ms at {rec_rate.rps:.0f}/s "
        f"({verdict(rec_rate.p99_ms <= TARGET_P99_MS)} <= {TARGET_P99_MS:g} ms); feed p99 "
        f"{feed.p99_ms:.2f} ms ({verdict(feed.p99_ms <= TARGET_FEED_P99_MS)} <= "
        f"{TARGET_FEED_P99_MS:g} ms); errors {errors}; reload errors {reload_errors}"
        + (
            ""
            if on_off is None
            else f"; experiments overhead {on_off.overhead:.3f} "
            f"({verdict(on_off.overhead <= TARGET_EXPERIMENTS_OVERHEAD)} <= "
            f"{TARGET_EXPERIMENTS_OVERHEAD:g})"
        ),
        flush=True,
    )
    experiment_keys = (
        ""
        if on_off is None
        else f" rec_rps_experiments_on={on_off.rps_on:.1f} "
        f"rec_rps_experiments_off={on_off.rps_off:.1f} "
        f"experiments_overhead={on_off.overhead:.3f} "
        f"experiments_cpu_overhead={on_off.cpu_overhead:.3f}"
    )
    print(
        f"RESULT rec_p99_ms={rec_rate.p99_ms:.2f} rec_rps={rec_max.rps:.1f} "
        f"ceiling_rps={ceiling.rps:.1f} ratio_ceiling={ratio_ceiling:.3f} "
        f"bare_rps={bare.rps:.1f} ratio={ratio:.3f} errors={errors} "
        f"feed_p99_ms={feed.p99_ms:.2f} reach_p99_ms={reach.p99_ms:.2f} "
        f"reloads={sum(1 for r in reloads.results if r == 200)} reload_errors={reload_errors}"
        + experiment_keys
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
