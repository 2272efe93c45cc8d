"""Error answers of the API: one rule for invalid requests, and short echoes.

Every request value the service cannot use answers **422** in FastAPI's validation format,
``{"detail": [{"type", "loc", "msg", "input", ...}]}``, with ``loc`` naming the field (e.g.
``["query", "category"]``, ``["body", "costs"]``): type and range errors found by pydantic and
the checks of routes and services alike (unknown category or region, ``min_price >
max_price``, too many events, a plan's budget below every cost). Unknown users or items are 404,
a missing or wrong key 401/403, an oversized body 413, a body that is not JSON text 400.

An error never echoes a long value whole: ``input`` holds at most :data:`MAX_ECHO` characters
of it (a prefix, marked with "…"), containers are summarised by size, and messages are cut to
:data:`MAX_MESSAGE` characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any, Final

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

#: Most characters of an offending value echoed in an error.
MAX_ECHO: Final[int] = 64
#: Most characters of an error message.
MAX_MESSAGE: Final[int] = 500


class FieldError(ValueError):
    """A value of field ``loc`` that the service cannot use (answered 422 at ``loc``)."""

    def __init__(self, loc: Sequence[str | int], message: str, value: object = None) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.value = value


def invalid(loc: Sequence[str | int], msg: str, value: object, kind: str) -> RequestValidationError:
    """A 422 error in FastAPI's format for field ``loc``."""
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": msg, "input": value}])


def named(
    exc: ValueError, loc: Sequence[str | int], fields: Collection[str]
) -> RequestValidationError:
    """A 422 for a library ``ValueError``, at ``(*loc, field)`` when its message starts with
    the name of one of ``fields`` (library messages name the argument first), else at
    ``loc``."""
    head = re.match(r"[A-Za-z_]+", str(exc))
    name = head.group(0) if head is not None and head.group(0) in fields else None
    where = (*loc, name) if name is not None else tuple(loc)
    return invalid(where, str(exc), None, "value_error")


def at_most(loc: Sequence[str | int], value: int, limit: int, what: str) -> None:
    """Raise a 422 naming ``loc`` and ``limit`` when ``value > limit``."""
    if value > limit:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": tuple(loc),
                    "msg": f"{what} must be at most {limit}, got {value}",
                    "input": value,
                    "ctx": {"le": limit},
                }
            ]
        )


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (the last one "…" when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def echo(value: Any) -> Any:
    """``value`` as an error may echo it: short scalars as they are, long text as a prefix,
    containers as their size when their JSON is long; numbers as plain JSON numbers."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return clip(value, MAX_ECHO)
    if isinstance(value, list | tuple | dict):
        text = json.dumps(value, default=str, ensure_ascii=False)
        if len(text) <= MAX_ECHO:
            return json.loads(text)
        kind = "object" if isinstance(value, dict) else "array"
        return f"<{kind} of {len(value)} entries: {clip(text, MAX_ECHO)}>"
    if hasattr(value, "item"):  # numpy scalars
        return echo(value.item())
    return clip(str(value), MAX_ECHO)


def _entry(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [p if isinstance(p, int) else str(p) for p in error.get("loc", ())],
        "msg": clip(str(error.get("msg", "")), MAX_MESSAGE),
        "input": echo(error.get("input")),
    }
    if error.get("ctx"):
        out["ctx"] = {str(k): echo(v) for k, v in error["ctx"].items()}
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 for a RequestValidationError, with every entry's echo shortened."""
    assert isinstance(exc, RequestValidationError)
    detail = [_entry(dict(e)) for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def field_error(request: Request, exc: Exception) -> JSONResponse:
    """422 at the field a :class:`FieldError` names, or at ``["request"]`` for a bare
    ``ValueError`` (a value the service cannot use that no route check names)."""
    loc = exc.loc if isinstance(exc, FieldError) else ("request",)
    value = exc.value if isinstance(exc, FieldError) else None
    entry = {"type": "value_error", "loc": loc, "msg": str(exc), "input": value}
    return JSONResponse(
        {"detail": [_entry(entry)]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )
