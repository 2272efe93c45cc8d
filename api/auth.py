"""API-key access control (header ``X-API-Key``, setting ``SOCIALREC_API_KEY``).

* Write and admin endpoints depend on :func:`require_api_key`: 401 without the header, 403 with
  a wrong key (compared in constant time), and 503 when the server has no key configured:
  writes are then disabled rather than open, and the message says to set SOCIALREC_API_KEY.
* Read endpoints depend on :func:`read_access`, which checks the key only when
  ``settings.read_requires_key`` is true.

Both are ``async def``: they block on nothing, and a plain ``def`` dependency costs a threadpool
round trip per request (see :mod:`api.deps`).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Final

from fastapi import Header, HTTPException, status

from api.deps import SettingsDep
from serving.settings import Settings

API_KEY_HEADER: Final[str] = "X-API-Key"

ApiKeyHeader = Annotated[
    str | None, Header(alias=API_KEY_HEADER, description="The API key (SOCIALREC_API_KEY).")
]


def check_api_key(settings: Settings, given: str | None) -> None:
    """Raise the HTTP error for a missing or wrong key; return if ``given`` matches.

    Raises:
        HTTPException: 503 if no key is configured, 401 if ``given`` is None, 403 if wrong.
    """
    if settings.api_key is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this endpoint requires an API key but the server has none: set SOCIALREC_API_KEY "
            "and restart the server",
        )
    if given is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    expected = settings.api_key.get_secret_value().encode("utf-8")
    if not secrets.compare_digest(given.encode("utf-8"), expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"wrong {API_KEY_HEADER}")


async def require_api_key(settings: SettingsDep, x_api_key: ApiKeyHeader = None) -> None:
    """Dependency of write and admin endpoints."""
    check_api_key(settings, x_api_key)


async def read_access(settings: SettingsDep, x_api_key: ApiKeyHeader = None) -> None:
    """Dependency of read endpoints: checks the key only if ``read_requires_key`` is set."""
    if settings.read_requires_key:
        check_api_key(settings, x_api_key)
