"""Responses written straight from a validated pydantic model."""

from __future__ import annotations

from fastapi import Response, status
from pydantic import BaseModel


def json_response(body: BaseModel, status_code: int = status.HTTP_200_OK) -> Response:
    """``body`` as JSON by pydantic's serialiser, ``None`` fields left out.

    For hot routes: FastAPI validates and encodes a returned model a second time; a route that
    returns this keeps its ``response_model`` for the OpenAPI schema (the contract tests check
    the bodies against it).
    """
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=status_code,
        media_type="application/json",
    )
