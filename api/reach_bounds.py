"""Request bounds and error mapping shared by the reach, campaign and influencer routes.

Bounds from the settings answer 422 in FastAPI's validation-error format with the field in
``loc``; a projected time over the limit is 422 at the simulations field; unknown users or
items pass through to the app's 404 handler.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Final, TypeVar

from fastapi import status

from api.errors import at_most, invalid, named
from api.schemas.reach import Segment
from api.schemas.recommendations import ErrorResponse
from graph.reach.estimate import WorkLimitError
from serving.profile import ProfileService
from serving.settings import Settings

NOT_FOUND: Final[dict[int | str, dict[str, object]]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorResponse, "description": "Unknown user or item."}
}
T = TypeVar("T")


def bounded_simulations(
    value: int | None, settings: Settings, loc: Sequence[str | int], default: int
) -> int:
    """``value`` (or ``min(default, max_simulations)``) checked against ``max_simulations``."""
    if value is None:
        return min(default, settings.max_simulations)
    at_most(loc, value, settings.max_simulations, "simulations")
    return value


def segment_members(segment: Segment | None, profiles: ProfileService) -> list[str] | None:
    """The served users of ``segment`` (``None`` without a segment)."""
    if segment is None:
        return None
    return profiles.segment_members(activity=segment.activity, tier=segment.value_tier)


def run_checked(
    work: Callable[[], T],
    simulations_loc: Sequence[str | int],
    loc: Sequence[str | int],
    fields: Collection[str] = (),
) -> T:
    """Run ``work``; a projected time over the limit is 422 at ``simulations_loc``, any other
    ``ValueError`` from the library is 422 at ``loc`` plus the field of ``fields`` its message
    names (:func:`api.errors.named`; unknown ids pass through: 404)."""
    try:
        return work()
    except WorkLimitError as exc:
        raise invalid(simulations_loc, str(exc), None, "work_limit") from exc
    except ValueError as exc:
        raise named(exc, loc, fields) from exc
