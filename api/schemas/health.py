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


class SyncInfo(BaseModel):
    """How far this replica has applied the store's change log (live writes of every replica)."""

    enabled: bool = Field(description="false: SOCIALREC_SYNC_INTERVAL_S is 0.")
    interval_s: float
    watermark: int = Field(description="Every logged write up to this number is applied here.")
    head: int | None = Field(None, description="The log's last number at the last read.")
    lag: int | None = Field(None, description="Writes logged but not applied here at that read.")
    seconds_since_sync: float | None = Field(
        None, description="Seconds since the last read that reached the head."
    )


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="degraded: reads are served from the loaded snapshot, but a dependency is "
        "down (writes answer 503 until it is back)."
    )
    model_version: str
    model_name: str
    model_warnings: list[str] = Field(
        default_factory=list,
        description="Quality warnings of the served checkpoint, e.g. its model ended below the "
        "popularity baseline on validation (trained with --allow-worse-than-popular).",
    )
    snapshot: SnapshotInfo
    counts: Counts
    dependencies: list[Dependency]
    sync: SyncInfo | None = Field(None, description="Replica sync; null before it is set up.")
