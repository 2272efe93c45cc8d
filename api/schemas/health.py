"""Response schema of ``GET /health``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SnapshotInfo(BaseModel):
    fingerprint: str
    created_at: str
    format_version: int
    source: str | None = None


class Counts(BaseModel):
    users: int
    items: int
    interactions: int
    social_edges: int


class Dependency(BaseModel):
    """A backing service and whether it answered the last probe."""

    name: Literal["graph_store"]
    kind: str = Field(description="Backend, e.g. sqlite or neo4j.")
    status: Literal["ok", "down"]
    detail: str | None = Field(None, description="Why it is down.")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="degraded: reads are served from the loaded snapshot, but a dependency is "
        "down (writes answer 503 until it is back)."
    )
    model_version: str
    model_name: str
    snapshot: SnapshotInfo
    counts: Counts
    dependencies: list[Dependency]
