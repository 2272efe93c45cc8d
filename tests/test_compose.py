"""The docker-compose file and Dockerfile describe the Neo4j deployment, scaled out to N API
replicas behind nginx, correctly (parsed, not run: no Docker engine on CI)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_services_and_volumes(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"neo4j", "pipeline", "api", "lb"}
    assert compose["services"]["neo4j"]["image"] == "neo4j:5"
    assert {"neo4j-data", "models"} <= set(compose["volumes"])
    assert "neo4j-data:/data" in compose["services"]["neo4j"]["volumes"]
    assert "models:/models" in compose["services"]["pipeline"]["volumes"]
    assert "models:/models:ro" in compose["services"]["api"]["volumes"]


def test_ports_bound_to_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["neo4j"]["ports"] == ["127.0.0.1:7474:7474", "127.0.0.1:7687:7687"]
    assert services["lb"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "ports" not in services["pipeline"]


def test_api_scales_behind_the_load_balancer(compose: dict[str, Any]) -> None:
    """``--scale api=N``: no fixed host port or name on api; lb publishes :8000 and balances
    over every replica Docker's DNS returns for ``api``, re-resolved while running."""
    services = compose["services"]
    api, lb = services["api"], services["lb"]
    assert "ports" not in api and "container_name" not in api
    assert api["expose"] == ["8000"]
    assert api["command"][-2:] == ["--port", "8000"]
    assert api["volumes"] == ["models:/models:ro"]  # every replica reads the one trained model
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["environment"]["SOCIALREC_SYNC_INTERVAL_S"] == "${SOCIALREC_SYNC_INTERVAL_S:-2}"
    image, version = lb["image"].split(":")
    assert image == "nginx"
    assert tuple(int(n) for n in version.split("-")[0].split(".")) >= (1, 27, 3)  # OSS resolve
    assert lb["depends_on"] == {"api": {"condition": "service_healthy"}}
    (config,) = lb["configs"]
    assert config["target"] == "/etc/nginx/conf.d/default.conf"
    nginx = compose["configs"][config["source"]]["content"]
    assert re.search(r"^\s*resolver 127\.0\.0\.11 valid=\d+s", nginx, re.MULTILINE)
    upstream = re.search(r"upstream (\w+) \{([^}]*)\}", nginx)
    assert upstream is not None
    assert re.search(r"^\s*server api:8000 resolve;$", upstream.group(2), re.MULTILINE)
    assert re.search(r"^\s*zone \w+ \d+k;$", upstream.group(2), re.MULTILINE)
    assert f"proxy_pass http://{upstream.group(1)};" in nginx
    assert re.search(r"^\s*listen 8000;$", nginx, re.MULTILINE)
    assert "$" not in nginx  # compose would interpolate it


def test_neo4j_healthcheck_uses_cypher_shell(compose: dict[str, Any]) -> None:
    check = compose["services"]["neo4j"]["healthcheck"]
    assert "cypher-shell" in " ".join(check["test"])
    assert "RETURN 1" in " ".join(check["test"])
    assert check["retries"] >= 1


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["pipeline"]["depends_on"] == {"neo4j": {"condition": "service_healthy"}}
    assert services["api"]["depends_on"] == {
        "neo4j": {"condition": "service_healthy"},
        "pipeline": {"condition": "service_completed_successfully"},
    }
    assert services["lb"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    script = " ".join(services["pipeline"]["command"])
    assert script.endswith("&& socialrec export --store neo4j && socialrec train")
    assert services["api"]["command"][:3] == ["serve", "--host", "0.0.0.0"]


def test_api_and_pipeline_talk_to_neo4j(compose: dict[str, Any]) -> None:
    for name in ("pipeline", "api"):
        env = compose["services"][name]["environment"]
        assert env["SOCIALREC_STORE"] == "neo4j"
        assert env["SOCIALREC_NEO4J_URI"] == "bolt://neo4j:7687"
        assert env["SOCIALREC_WORK_DIR"] == "/models"


def test_no_default_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    secrets = re.findall(r"\$\{(NEO4J_PASSWORD|SOCIALREC_API_KEY)([^}]*)\}", text)
    assert secrets, "secrets must come from the environment"
    for name, rest in secrets:
        assert rest.startswith(":?"), f"{name} must be required (${{{name}:?...}}), got {rest!r}"
    assert "NEO4J_AUTH: neo4j/${NEO4J_PASSWORD:?" in text
    assert not re.search(r"NEO4J_AUTH:\s*(none|neo4j/[^$])", text)


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert '"torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu' in text
    assert "requirements.lock" in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", ".env", "runs"} <= set(ignored)


def _interpolate(value: str, host: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` interpolation (the forms this file uses)."""
    return re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda m: host.get(m.group(1)) or m.group(2), value
    ).replace("$$", "$")


def _pipeline_calls(compose: dict[str, Any], host: dict[str, str], tmp_path: Path) -> list[str]:
    """Run the pipeline's shell command with a stand-in ``socialrec`` that logs its arguments."""
    import os
    import subprocess

    fake = tmp_path / "bin" / "socialrec"
    fake.parent.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n', encoding="utf-8")
    fake.chmod(0o755)
    pipeline = compose["services"]["pipeline"]
    env = {k: _interpolate(str(v), host) for k, v in pipeline["environment"].items()}
    env["PATH"] = f"{fake.parent}:{os.environ['PATH']}"
    (command,) = pipeline["command"]
    subprocess.run(["/bin/sh", "-c", _interpolate(command, host)], env=env, check=True)
    calls = log.read_text(encoding="utf-8").splitlines()
    log.unlink()
    return calls


def test_pipeline_generates_the_synthetic_world_unless_given_data(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """A user's machine has no ../shared data: by default the world is generated (as
    ``make demo`` does); SOCIALREC_DATA_DIR switches to loading real files."""
    volumes = compose["services"]["pipeline"]["volumes"]
    assert not any("shared" in v for v in volumes)
    assert _interpolate(volumes[0], {}) == "no-input-data:/data:ro"
    assert "no-input-data" in compose["volumes"]
    assert _pipeline_calls(compose, {}, tmp_path) == [
        "generate /models/world --force",
        "load /models/world --store neo4j",
        "export --store neo4j",
        "train",
    ]
    host = {"SOCIALREC_DATA_DIR": "/home/me/lastfm", "SOCIALREC_DATA_FORMAT": "lastfm"}
    assert _interpolate(volumes[0], host) == "/home/me/lastfm:/data:ro"
    assert _pipeline_calls(compose, host, tmp_path) == [
        "load /data --format lastfm --store neo4j",
        "export --store neo4j",
        "train",
    ]
    assert _pipeline_calls(compose, {"SOCIALREC_DATA_DIR": "/x"}, tmp_path)[0] == (
        "load /data --format dir --store neo4j"
    )
