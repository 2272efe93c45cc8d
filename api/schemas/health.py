"""Response schema of ``GET /health``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_version: str
    model_name: str
    snapshot: SnapshotInfo
    counts: Counts
