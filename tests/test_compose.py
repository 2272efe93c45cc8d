"""The docker-compose file and Dockerfile describe the Neo4j deployment correctly (parsed, not run:
no Docker engine on CI)."""

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
    assert set(compose["services"]) == {"neo4j", "pipeline", "api"}
    assert compose["services"]["neo4j"]["image"] == "neo4j:5"
    assert {"neo4j-data", "models"} <= set(compose["volumes"])
    assert "neo4j-data:/data" in compose["services"]["neo4j"]["volumes"]
    assert "models:/models" in compose["services"]["pipeline"]["volumes"]
    assert "models:/models:ro" in compose["services"]["api"]["volumes"]


def test_ports_bound_to_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["neo4j"]["ports"] == ["127.0.0.1:7474:7474", "127.0.0.1:7687:7687"]
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "ports" not in services["pipeline"]


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
    script = " ".join(services["pipeline"]["command"])
    steps = [s.strip() for s in script.split("&&")]
    assert steps == [
        "socialrec load /data --format lastfm --store neo4j",
        "socialrec export --store neo4j",
        "socialrec train",
    ]
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
