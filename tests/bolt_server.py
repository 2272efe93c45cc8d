"""A real Bolt server for tests: the one named by environment variables, else a local ArcadeDB.

With ``SOCIALREC_TEST_NEO4J_URI`` (and ``..._USER``, ``..._PASSWORD``, ``..._DATABASE``) set,
tests use that server (e.g. ``neo4j:5`` from docker-compose). Otherwise :class:`ArcadeServer`
starts ArcadeDB from the installed ``arcadedb-embedded`` wheel on free loopback ports, with a
Bolt endpoint the ``neo4j`` driver talks to (see shared/NEO4J_TESTING.md), and stops it by PID.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph import cypher
from graph.neo4j_store import Neo4jStore

ENV_PREFIX = "SOCIALREC_TEST_NEO4J_"


@dataclass(frozen=True)
class BoltTarget:
    """Where a test store connects."""

    uri: str
    user: str
    password: str
    database: str

    def open_store(self, *, max_retry_time: float = 5.0) -> Neo4jStore:
        """A store on this server (short retry time so failures surface fast in tests)."""
        return Neo4jStore(
            self.uri, self.user, self.password, self.database, max_retry_time=max_retry_time
        )


def target_from_env() -> BoltTarget | None:
    """The server named by ``SOCIALREC_TEST_NEO4J_*``, or None when no URI is set."""
    uri = os.environ.get(ENV_PREFIX + "URI")
    if not uri:
        return None
    return BoltTarget(
        uri,
        os.environ.get(ENV_PREFIX + "USER", "neo4j"),
        os.environ.get(ENV_PREFIX + "PASSWORD", ""),
        os.environ.get(ENV_PREFIX + "DATABASE", "neo4j"),
    )


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _arcadedb_home() -> Path:
    import arcadedb_embedded

    return Path(arcadedb_embedded.__file__).resolve().parent


class ArcadeServer:
    """An ArcadeDB server process with the Bolt plugin, bound to loopback.

    Args:
        data_dir: The server's root directory (kept across :meth:`restart`).
    """

    database = "graph"
    user = "root"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.password = secrets.token_hex(12)
        self.http_port = free_port()
        self.bolt_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> BoltTarget:
        return BoltTarget(
            f"bolt://127.0.0.1:{self.bolt_port}", self.user, self.password, self.database
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it is ready."""
        home = _arcadedb_home()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.with_suffix(".log"), "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                str(home / "jre" / "bin" / "java"),
                "-Xmx1g",
                "-cp",
                str(home / "jars") + "/*",
                f"-Darcadedb.server.rootPath={self.data_dir}",
                f"-Darcadedb.server.rootPassword={self.password}",
                "-Darcadedb.server.httpIncomingHost=127.0.0.1",
                f"-Darcadedb.server.httpIncomingPort={self.http_port}",
                "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
                "-Darcadedb.bolt.host=127.0.0.1",
                f"-Darcadedb.bolt.port={self.bolt_port}",
                "-Darcadedb.server.defaultDatabases=graph[root]",
                "com.arcadedb.server.ArcadeDBServer",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,  # ArcadeDB writes its log/ folder into the working directory
        )
        log.close()
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/api/v1/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"ArcadeDB exited with {self.process.returncode}; see "
                    f"{self.data_dir.with_suffix('.log')}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status in (200, 204):
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ArcadeDB not ready after {timeout} s on port {self.http_port}")

    def kill(self) -> None:
        """SIGKILL the server (a crash, for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> None:
        """Kill and start again on the same ports and data directory."""
        self.kill()
        self.start()

    def _command(self, command: str) -> None:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/v1/server",
            data=json.dumps({"command": command}).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def fresh_database(self) -> None:
        """Drop and recreate the ``graph`` database."""
        self._command(f"drop database {self.database}")
        self._command(f"create database {self.database}")


def clear_database(store: Neo4jStore, batch: int = 10_000) -> None:
    """Delete every node and relationship in the store's database, ``batch`` nodes at a time."""
    with store._driver.session(database=store.database) as session:
        while True:
            record = session.execute_write(lambda tx: tx.run(cypher.CLEAR_BATCH, n=batch).single())
            if record is None or record["deleted"] == 0:
                return


@pytest.fixture(scope="session")
def bolt_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoltTarget]:
    """The session's Bolt server: from ``SOCIALREC_TEST_NEO4J_*`` or a local ArcadeDB."""
    configured = target_from_env()
    if configured is not None:
        yield configured
        return
    server = ArcadeServer(tmp_path_factory.mktemp("arcadedb") / "root")
    server.start()
    try:
        yield server.target
    finally:
        server.stop()


@pytest.fixture
def neo4j_store(bolt_target: BoltTarget) -> Iterator[Neo4jStore]:
    """An empty Bolt store (the database is cleared before the test)."""
    store = bolt_target.open_store()
    clear_database(store)
    try:
        yield store
    finally:
        store.close()
