"""``POST /api/v1/admin/reload``: swap model and snapshot without downtime (API key)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status

from api.auth import require_api_key
from api.deps import HolderDep, SettingsDep
from api.schemas.recommendations import ErrorResponse
from api.schemas.users import ReloadResponse
from serving.state import StateLoadError

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_api_key)])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={status.HTTP_409_CONFLICT: {"model": ErrorResponse}},
    summary="Reload the snapshot and checkpoint",
)
def reload(holder: HolderDep, settings: SettingsDep) -> ReloadResponse:
    """Load the configured snapshot and checkpoint, re-apply live changes (events since the
    old snapshot, deletions) and swap the serving state in one assignment. Requests already
    running keep the state they started with; none fail. If the new artifacts cannot be
    loaded the old state stays and the answer is 409 with the reason."""
    try:
        new = holder.reload(settings)
    except StateLoadError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return ReloadResponse(
        model_version=new.checkpoint.model_version,
        snapshot_fingerprint=new.snapshot.fingerprint,
        live_interactions=len(new.live.live_interactions()),
    )
