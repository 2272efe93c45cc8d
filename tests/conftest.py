"""Fixtures shared by every test package: the session's Bolt server and Bolt stores, and fresh
settings for every test."""

from collections.abc import Iterator

import pytest

from serving.settings import get_settings
from tests.bolt_server import bolt_target, neo4j_store  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Clear the cached :func:`serving.settings.get_settings` before and after each test, so
    settings read from the environment (``SOCIALREC_*`` set with ``monkeypatch``) never leak
    from one test into another."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
