"""Request dependencies. Routes take these ``Annotated`` aliases; tests replace the
functions through ``app.dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.services.profile import ProfileService
from api.services.reach import ReachService
from api.services.recommender import RecommenderService
from api.settings import Settings
from api.state import AppState
from gnn.checkpoint import Checkpoint
from graph.snapshot import Snapshot


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_state(request: Request) -> AppState:
    """The state loaded by the lifespan; 503 if it is not loaded."""
    state: AppState | None = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the model is not loaded")
    return state


def get_snapshot(state: Annotated[AppState, Depends(get_state)]) -> Snapshot:
    return state.snapshot


def get_checkpoint(state: Annotated[AppState, Depends(get_state)]) -> Checkpoint:
    return state.checkpoint


def get_recommender(state: Annotated[AppState, Depends(get_state)]) -> RecommenderService:
    return state.recommender


def get_reach(state: Annotated[AppState, Depends(get_state)]) -> ReachService:
    return state.reach


def get_profiles(state: Annotated[AppState, Depends(get_state)]) -> ProfileService:
    return state.profiles


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[AppState, Depends(get_state)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
CheckpointDep = Annotated[Checkpoint, Depends(get_checkpoint)]
RecommenderDep = Annotated[RecommenderService, Depends(get_recommender)]
ReachDep = Annotated[ReachService, Depends(get_reach)]
ProfilesDep = Annotated[ProfileService, Depends(get_profiles)]
