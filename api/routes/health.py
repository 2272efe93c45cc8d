"""``GET /health``: liveness plus what is being served."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StateDep
from api.schemas.health import Counts, HealthResponse, SnapshotInfo

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, summary="Service status")
def health(state: StateDep) -> HealthResponse:
    """Model version, snapshot identity and graph counts (503 while nothing is loaded)."""
    meta = state.snapshot.meta
    snapshot = state.snapshot
    return HealthResponse(
        status="ok",
        model_version=state.checkpoint.model_version,
        model_name=state.checkpoint.model_name,
        snapshot=SnapshotInfo(
            fingerprint=snapshot.fingerprint,
            created_at=str(meta.get("created_at", "")),
            format_version=int(meta["format_version"]),
            source=meta.get("source"),
        ),
        counts=Counts(
            users=snapshot.num_users,
            items=snapshot.num_items,
            interactions=len(snapshot.inter_user),
            social_edges=len(snapshot.social_src),
        ),
    )
