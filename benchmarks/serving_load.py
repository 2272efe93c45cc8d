"""Serving under load: the real API (uvicorn, one worker) driven by locust from a second process.

Builds, or reuses from ``--work`` (default ``runs/bench``), a served model with the project's
CLI: LastFM (``socialrec load --format lastfm`` of ../shared/data/lastfm/hetrec2011 ->
``export`` -> ``train``) or, with ``--synthetic``, a 100,000-user world (``socialrec demo
--no-serve``). It then starts ``socialrec serve`` on a free loopback port (one uvicorn
worker, ``SOCIALREC_SERVING_THREADS=1``, ``OMP_NUM_THREADS=1``) and runs, each as its own
headless locust process (``benchmarks/serving_locustfile.py``, FastHttpUser), bounded in time
(``--duration``) and request count:

==============  ================================================  ==========================
scenario        requests                                          load
==============  ================================================  ==========================
bare            ``GET /health``: no model work, the ceiling       closed loop (max rps)
rec_max         recommendations with explanations, ``k=10``,    closed loop (max rps)
                random users with interactions
rec_rate        the same                                          ``--rate`` offered (300/s)
rec_reload      the same, with ``--reloads`` ``POST                ``--rate`` offered
                /api/v1/admin/reload`` during the run
feed            ``POST /api/v1/feed/rank``, 50 random candidates  ``--feed-rate`` offered
reach           ``POST /api/v1/reach``, 1,000 simulations, 5      ``--reach-rate`` offered
                random seeds with friends
==============  ================================================  ==========================

Offered rates use locust's ``constant_throughput`` over many users (each user at most a few
requests/s), so the rate is offered whatever the latency rather than closed-loop. Latencies
are locust's client-side times of every request completed after all users were spawned.
The ``bare`` ceiling is ``/health``: it reads the loaded state and a cached store probe (at
most one ``SELECT 1`` every 2 s) and goes through the same middleware and threadpool as the
recommendation route, so the ratio isolates the recommendation work.

Run (one command; Ctrl-C stops the server and locust)::

    .venv/bin/python benchmarks/serving_load.py [--synthetic] [--duration 20]

The last line is ``RESULT rec_p99_ms=... rec_rps=... bare_rps=... ratio=... errors=...
feed_p99_ms=... reach_p99_ms=... reloads=... reload_errors=...``: ``rec_p99_ms`` at the offered
``--rate``, ``rec_rps`` and ``bare_rps`` the closed-loop maxima, ``ratio = rec_rps /
bare_rps``, ``errors`` the failed requests of every scenario but ``rec_reload``, whose failed
requests plus failed reloads are ``reload_errors``. Targets (issue 7, 2 cores): p99 <= 15 ms at
300 requests/s with 0 errors, ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from graph.snapshot import read_snapshot

REPO: Final[Path] = Path(__file__).resolve().parents[1]
DEFAULT_DATA: Final[Path] = REPO.parent / "shared" / "data" / "lastfm"
LOCUSTFILE: Final[Path] = Path(__file__).with_name("serving_locustfile.py")
SYNTHETIC_USERS: Final[int] = 100_000
#: Catalogue size of the synthetic world: the demo's ratio (5,000 users, 2,000 items).
SYNTHETIC_ITEMS: Final[int] = 40_000
TARGET_P99_MS: Final[float] = 15.0
TARGET_RATIO: Final[float] = 0.5


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


def write_ids(work: Path, out: Path, seed: int) -> dict[str, int]:
    """Sample request ids from the snapshot into ``out`` (JSON); returns how many of each."""
    snapshot = read_snapshot(work / "snapshot")
    rng = np.random.default_rng(seed)

    def sample(indices: np.ndarray, names: list[str], size: int) -> list[str]:
        chosen = rng.choice(indices, size=min(size, len(indices)), replace=False)
        return [names[int(i)] for i in chosen]

    users = list(snapshot.user_ids)
    ids = {
        "users": sample(np.unique(snapshot.inter_user), users, 5000),
        "items": sample(np.arange(snapshot.num_items), list(snapshot.item_ids), 5000),
        "reach_seeds": sample(np.unique(snapshot.social_src), users, 2000),
    }
    out.write_text(json.dumps(ids), encoding="utf-8")
    return {name: len(values) for name, values in ids.items()}


@contextmanager
def api_server(
    work: Path, api_key: str, log: Path, timeout_s: float = 180
) -> Iterator[tuple[str, int]]:
    """``socialrec serve`` on a free loopback port until the block ends; yields its base URL
    and process id."""
    port = _free_port()
    env = _clean_env(
        SOCIALREC_WORK_DIR=str(work),
        SOCIALREC_STORE="sqlite",
        SOCIALREC_API_KEY=api_key,
        SOCIALREC_SERVING_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "socialrec.cli", "serve"),
                *("--host", "127.0.0.1", "--port", str(port), "--threads", "1"),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer /health in {timeout_s} s; see {log}")
            time.sleep(0.3)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    def from_file(
        cls, scenario: str, users: int, offered_rps: float | None, path: Path, cpu_s: float
    ) -> Measurement:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["requests"]
        if not rows:
            raise SystemExit(f"{scenario}: no request completed; see the locust log")
        start = np.array([r[0] for r in rows], dtype=float)
        latency = np.array([r[1] for r in rows], dtype=float)
        window = float(np.max(start + latency / 1000) - np.min(start))
        p50, p95, p99 = np.percentile(latency, [50, 95, 99])
        total = data["total_requests"]
        return cls(
            scenario=scenario,
            users=users,
            offered_rps=offered_rps,
            requests=len(rows),
            errors=sum(1 for r in rows if not r[2]),
            rps=len(rows) / window if window > 0 else float("nan"),
            p50_ms=float(p50),
            p95_ms=float(p95),
            p99_ms=float(p99),
            failures=data["failures"],
            server_cpu_ms=1000 * cpu_s / total if total else float("nan"),
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_locust(
    scenario: str,
    user_class: str,
    base: str,
    server_pid: int,
    *,
    users: int,
    rate: float | None,
    args: argparse.Namespace,
    ids_file: Path,
    out_dir: Path,
) -> Measurement:
    """One headless locust run of ``user_class``; ``rate`` (requests/s offered in all, spread
    over ``users``) or ``None`` for a closed loop."""
    per_user = 0.0 if rate is None else rate / users
    latency_out = out_dir / f"{scenario}.json"
    log = out_dir / f"{scenario}.locust.log"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(users),
        "--run-time",
        f"{args.duration}s",
        "--stop-timeout",
        "10",
        "--exit-code-on-error",
        "0",
        "--host",
        base,
        "--ids-file",
        str(ids_file),
        "--latency-out",
        str(latency_out),
        "--per-user-rate",
        str(per_user),
        "--max-requests",
        str(args.max_requests),
        "--reach-simulations",
        str(args.reach_simulations),
        "--feed-candidates",
        str(args.feed_candidates),
        user_class,
    ]
    latency_out.unlink(missing_ok=True)
    cpu_before = cpu_seconds(server_pid)
    with log.open("wb") as out:
        done = subprocess.run(
            command,
            cwd=out_dir,  # no stray locust.conf from the repository
            env=_clean_env(OMP_NUM_THREADS="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=args.duration + 90,
            check=False,
        )
    if done.returncode != 0 or not latency_out.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"locust {scenario} failed ({done.returncode}); {log}:\n{tail}")
    cpu_s = cpu_seconds(server_pid) - cpu_before
    return Measurement.from_file(scenario, users, rate, latency_out, cpu_s)


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
    parser.add_argument("--max-requests", type=int, default=200_000, help="Per scenario.")
    parser.add_argument("--closed-users", type=int, default=16, help="Closed-loop users.")
    parser.add_argument("--rate", type=float, default=300.0, help="Offered recommendations/s.")
    parser.add_argument("--rate-users", type=int, default=60, help="Users offering --rate.")
    parser.add_argument("--feed-rate", type=float, default=100.0)
    parser.add_argument("--feed-candidates", type=int, default=50)
    parser.add_argument("--reach-rate", type=float, default=2.0)
    parser.add_argument("--reach-simulations", type=int, default=1000)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the sampled ids.")
    args = parser.parse_args(argv)
    for name in ("duration", "closed_users", "rate_users", "reloads", "max_requests"):
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
    ids_file = run_dir / "ids.json"
    counts = write_ids(work, ids_file, args.seed)
    print(f"ids: {counts}; logs and raw latencies in {run_dir}", flush=True)
    api_key = secrets.token_hex(16)
    results: list[Measurement] = []
    with api_server(work, api_key, run_dir / "server.log") as (base, pid):
        print(f"server: {base} (1 uvicorn worker, 1 torch thread)", flush=True)

        def run(scenario: str, user_class: str, users: int, rate: float | None) -> Measurement:
            measured = run_locust(
                scenario,
                user_class,
                base,
                pid,
                users=users,
                rate=rate,
                args=args,
                ids_file=ids_file,
                out_dir=run_dir,
            )
            print(_row(measured), flush=True)
            results.append(measured)
            return measured

        print(
            f"{'scenario':<11} {'offered':>8} {'users':>5} {'requests':>8} {'req/s':>9} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'cpu ms':>8}",
            flush=True,
        )
        bare = run("bare", "BareUser", args.closed_users, None)
        rec_max = run("rec_max", "RecUser", args.closed_users, None)
        rec_rate = run("rec_rate", "RecUser", args.rate_users, args.rate)
        spacing = (args.duration - 6) / max(args.reloads - 1, 1)
        reloads = Reloads(base, api_key, args.reloads, 3.0, spacing, [], [])
        thread = threading.Thread(target=reloads.run, daemon=True)
        thread.start()
        rec_reload = run("rec_reload", "RecUser", args.rate_users, args.rate)
        thread.join(timeout=300)
        feed = run("feed", "FeedUser", max(2, round(args.feed_rate / 5)), args.feed_rate)
        reach = run("reach", "ReachUser", max(1, round(args.reach_rate)), args.reach_rate)

    for m in results:
        for reason, count in sorted(m.failures.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {m.scenario} failure x{count}: {reason}")
    print(
        f"reloads: {reloads.results} in {', '.join(f'{s:.2f}' for s in reloads.seconds)} s",
        flush=True,
    )
    ratio = rec_max.rps / bare.rps
    errors = sum(m.errors for m in (bare, rec_max, rec_rate, feed, reach))
    reload_errors = rec_reload.errors + reloads.failed
    print(
        f"targets: rec p99 {rec_rate.p99_ms:.2f} ms at {rec_rate.rps:.0f}/s "
        f"({'meets' if rec_rate.p99_ms <= TARGET_P99_MS else 'misses'} <= {TARGET_P99_MS:g} ms); "
        f"ratio {ratio:.2f} ({'meets' if ratio >= TARGET_RATIO else 'misses'} >= "
        f"{TARGET_RATIO}); errors {errors}; reload errors {reload_errors}",
        flush=True,
    )
    print(
        f"RESULT rec_p99_ms={rec_rate.p99_ms:.2f} rec_rps={rec_max.rps:.1f} "
        f"bare_rps={bare.rps:.1f} ratio={ratio:.3f} errors={errors} "
        f"feed_p99_ms={feed.p99_ms:.2f} reach_p99_ms={reach.p99_ms:.2f} "
        f"reloads={sum(1 for r in reloads.results if r == 200)} reload_errors={reload_errors}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
