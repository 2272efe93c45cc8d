"""``GET /api/v1/users/{id}/profile`` and ``DELETE /api/v1/users/{id}``."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from api import ids  # noqa: F401 - registers the {user_id:id} path convertor
from api.auth import read_access, require_api_key
from api.deps import HolderDep, StateDep
from api.schemas.recommendations import ErrorResponse
from api.schemas.users import (
    CategoryShareOut,
    DeleteUserResponse,
    ProfileResponse,
    SocialStatsOut,
)
from serving.recommender import UnknownUserError
from serving.writes import forget_user

router = APIRouter(prefix="/users", tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=256)]


@router.get(
    "/{user_id:id}/profile",
    response_model=ProfileResponse,
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorResponse}},
    dependencies=[Depends(read_access)],
    summary="Marketing portrait of a user",
)
def get_profile(user_id: UserId, state: StateDep) -> ProfileResponse:
    """Top categories, price sensitivity, activity segment, value tier and social stats
    (definitions in :mod:`serving.profile`)."""
    p = state.profiles.profile(user_id)
    return ProfileResponse(
        user_id=p.user_id,
        interactions=p.interactions,
        top_categories=[
            CategoryShareOut(category=c.category, share=c.share) for c in p.top_categories
        ],
        price_ratio=p.price_ratio,
        price_sensitivity=p.price_sensitivity,
        activity_segment=p.activity_segment,
        days_since_last=p.days_since_last,
        value_tier=p.value_tier,
        rfm_score=p.rfm_score,
        social=SocialStatsOut(
            friends=p.social.friends,
            following=p.social.following,
            followers=p.social.followers,
            influence_score=p.social.influence_score,
        ),
    )


@router.delete(
    "/{user_id:id}",
    response_model=DeleteUserResponse,
    responses={
        status.HTTP_401_UNAUTHORIZED: {"model": ErrorResponse},
        status.HTTP_403_FORBIDDEN: {"model": ErrorResponse},
        status.HTTP_404_NOT_FOUND: {"model": ErrorResponse},
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorResponse},
    },
    dependencies=[Depends(require_api_key)],
    summary="Delete a user (privacy)",
)
def delete_user(user_id: UserId, holder: HolderDep) -> DeleteUserResponse:
    """Remove the user from serving at once (no recommendations for them, never named in
    anyone's reasons, impressions forgotten), then from the store, so the next export lacks
    them; other replicas on the same store forget them within ``SOCIALREC_SYNC_INTERVAL_S``.
    404 if neither knows the user; 503 with Retry-After if the store is unavailable: serving
    has already forgotten the user, retry to finish the store deletion."""
    served, stored = holder.write(partial(forget_user, user_id=user_id))
    if not served and not stored:
        raise UnknownUserError(user_id)
    return DeleteUserResponse(
        user_id=user_id, deleted_from_store=stored, removed_from_serving=served
    )
