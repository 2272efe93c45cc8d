"""Request dependencies. Routes take these ``Annotated`` aliases; tests replace the
functions through ``app.dependency_overrides``.

The dependencies are ``async def`` on purpose: they only read ``app.state`` (nothing blocks),
and FastAPI runs every plain ``def`` dependency in its own threadpool round trip (about 70 us
of CPU and twice that in latency each; a recommendation request resolved six of them).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from serving.experiment_serving import ExperimentServing
from serving.profile import ProfileService
from serving.reach import ReachService
from serving.recommender import RecommenderService
from serving.settings import Settings
from serving.state import AppState
from serving.writes import StateHolder


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_holder(request: Request) -> StateHolder:
    """The holder of the served state; write routes change the state through it."""
    holder: StateHolder = request.app.state.holder
    return holder


async def current_state(request: Request) -> AppState:
    """The state loaded by the lifespan; 503 if it is not loaded."""
    state: AppState | None = request.app.state.holder.state
    if state is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the model is not loaded")
    return state


StateDep = Annotated[AppState, Depends(current_state)]


async def get_recommender(state: StateDep) -> RecommenderService:
    return state.recommender


async def get_reach(state: StateDep) -> ReachService:
    return state.reach


async def get_profiles(state: StateDep) -> ProfileService:
    return state.profiles


async def get_experiments(request: Request) -> ExperimentServing:
    """The experiment registry and the variants' arms (made by the app factory)."""
    experiments: ExperimentServing = request.app.state.experiments
    return experiments


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[StateHolder, Depends(get_holder)]
RecommenderDep = Annotated[RecommenderService, Depends(get_recommender)]
ReachDep = Annotated[ReachService, Depends(get_reach)]
ProfilesDep = Annotated[ProfileService, Depends(get_profiles)]
ExperimentsDep = Annotated[ExperimentServing, Depends(get_experiments)]
