"""``GET /api/v1/users/{user_id}/recommendations``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter

from api import ids  # noqa: F401 - registers the {user_id:id} path convertor
from api.auth import read_access
from api.deps import ExperimentsDep, StateDep
from api.errors import named
from api.one_step import OneStepRoute
from api.schemas.recommendations import (
    ErrorResponse,
    RecommendationsResponse,
)
from serving.social import ItemFilter, Recommendation, Strategy
from serving.social import Reason as ServiceReason

#: One-step resolution (api/one_step.py): declare dependencies on the route, not here.
router = APIRouter(prefix="/users", tags=["recommendations"], route_class=OneStepRoute)


DEFAULT_K: Final[int] = 10


@dataclass(frozen=True, slots=True)
class PlacedItem:
    """A recommended item with its 1-based ``position`` (the response's item shape)."""

    item_id: str
    position: int
    score: float
    model_score: float
    reasons: tuple[ServiceReason, ...] = ()


@dataclass(frozen=True, slots=True)
class Served:
    """A :class:`serving.social.Recommendation` as served: its shape is the response's."""

    user_id: str
    strategy: Strategy
    items: list[PlacedItem]
    serve_id: str | None = None
    experiment: str | None = None
    variant: str | None = None


def served(
    result: Recommendation,
    serve_id: str | None,
    experiment: str | None = None,
    variant: str | None = None,
) -> Served:
    """``result`` with its items' positions, the serve's id and the experiment's variant."""
    return Served(
        result.user_id,
        result.strategy,
        [
            PlacedItem(r.item_id, n, r.score, r.model_score, r.reasons)
            for n, r in enumerate(result.items, 1)
        ],
        serve_id,
        experiment,
        variant,
    )


#: Serialiser of :class:`Served`.
_BODY: Final = TypeAdapter(Served)
_QUERY_FIELDS: Final = frozenset({"k", "category", "min_price", "max_price", "region"})


def bounded_k(k: int | None, max_k: int) -> int:
    """``k`` checked against the runtime bound ``max_k`` (422 above it); ``None`` is
    ``min(10, max_k)``."""
    if k is None:
        return min(DEFAULT_K, max_k)
    if k > max_k:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "k"),
                    "msg": f"Input should be less than or equal to {max_k}",
                    "input": k,
                    "ctx": {"le": max_k},
                }
            ]
        )
    return k


# The docstring below is the OpenAPI description. Parameters are resolved in one step
# by the router's OneStepRoute (api/one_step.py), not one by one by FastAPI (~0.3 ms saved).
@router.get(
    "/{user_id:id}/recommendations",
    response_model=RecommendationsResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(read_access)],
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorResponse},
    },
    summary="Top-k items for a user, with reasons",
)
async def get_recommendations(
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
    state: StateDep,
    experiments: ExperimentsDep,
    k: Annotated[
        int | None,
        Query(ge=1, description="Number of items, 1..max_k [default: min(10, max_k)]."),
    ] = None,
    category: Annotated[str | None, Query(max_length=256, description="Category.")] = None,
    min_price: Annotated[float | None, Query(ge=0, description="Least price (inclusive).")] = None,
    max_price: Annotated[float | None, Query(ge=0, description="Most price (inclusive).")] = None,
    in_stock_only: Annotated[bool, Query(description="Only items in stock.")] = False,
    exclude_seen: Annotated[
        bool, Query(description="Leave out items the user already interacted with.")
    ] = True,
    fallback: Annotated[
        Literal["none", "popular"],
        Query(description="popular: serve popular items to unknown users instead of 404."),
    ] = "none",
    region: Annotated[
        str | None, Query(max_length=256, description="Region for popular items.")
    ] = None,
) -> Response:
    """The ``k`` best items for ``user_id``, best first, each with the reasons the graph gives.

    Strategy: ``personalized`` for users with interactions, ``social_cold_start`` for users
    with friends but no interactions, ``popular`` otherwise. A user unknown to the served
    model is a 404 unless ``fallback=popular`` (the feed path never 404s).

    Runs on the event loop: the work is ~0.5 ms of numpy, and a threadpool round trip plus
    the GIL hand-offs between pool threads cost more than that under load (measured in
    ``benchmarks/serving_load.py``). Only the first request of an experiment's arm on a
    served state goes to the threadpool, which builds the arm (it may read a checkpoint).
    Parameters are plain query parameters (each dependency costs a resolution per request).
    The service's result is written as JSON by pydantic's serialiser straight from its
    dataclasses, which mirror ``RecommendationsResponse`` field for field (a test checks the
    JSON against the schema); FastAPI would build and validate the response models first,
    then encode them.
    """
    arm = experiments.cached(state, user_id)  # the server's own, or an experiment's variant
    if arm is None:  # first use on this state: building it may read a checkpoint, off the loop
        arm = await run_in_threadpool(experiments.arm, state, user_id)
    try:
        result = arm.social.recommend(
            user_id,
            bounded_k(k, state.settings.max_k),
            exclude_seen=exclude_seen,
            item_filter=ItemFilter(category, min_price, max_price, in_stock_only),
            fallback_popular=fallback == "popular",
            region=region,
        )
    except ValueError as exc:  # a filter or region the catalogue does not have: 422 there
        raise named(exc, ("query",), _QUERY_FIELDS) from exc
    serve_id = None
    if state.serves is not None:  # logged in the background (serving/attribution.py)
        items = [r.item_id for r in result.items]
        serve_id = state.serves.record(
            user_id,
            "rec",
            items,
            model=arm.model,
            experiment=arm.experiment,
            variant=arm.variant,
        )
    experiments.served(arm, "rec", len(result.items))
    body = _BODY.dump_json(served(result, serve_id, arm.experiment, arm.variant), exclude_none=True)
    return Response(body, media_type="application/json")
