"""``GET /api/v1/users/{user_id}/recommendations``."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.exceptions import RequestValidationError

from api.deps import RecommenderDep, SettingsDep
from api.schemas.recommendations import (
    ErrorResponse,
    RecommendationsResponse,
    RecommendedItem,
)

router = APIRouter(prefix="/users", tags=["recommendations"])


DEFAULT_K: Final[int] = 10


def bounded_k(
    settings: SettingsDep,
    k: Annotated[
        int | None,
        Query(ge=1, description="Number of items, 1..max_k [default: min(10, max_k)]."),
    ] = None,
) -> int:
    """``k`` checked against the runtime bound ``settings.max_k`` (422 above it)."""
    if k is None:
        return min(DEFAULT_K, settings.max_k)
    if k > settings.max_k:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "k"),
                    "msg": f"Input should be less than or equal to {settings.max_k}",
                    "input": k,
                    "ctx": {"le": settings.max_k},
                }
            ]
        )
    return k


@router.get(
    "/{user_id}/recommendations",
    response_model=RecommendationsResponse,
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorResponse}},
    summary="Top-k items for a user",
)
def get_recommendations(
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
    k: Annotated[int, Depends(bounded_k)],
    recommender: RecommenderDep,
    exclude_seen: Annotated[
        bool, Query(description="Leave out items the user already interacted with.")
    ] = True,
) -> RecommendationsResponse:
    """The ``k`` best-scoring items for ``user_id``, best first."""
    ranked = recommender.recommend(user_id, k, exclude_seen=exclude_seen)
    return RecommendationsResponse(
        user_id=user_id,
        items=[RecommendedItem(item_id=r.item_id, score=r.score) for r in ranked],
    )
